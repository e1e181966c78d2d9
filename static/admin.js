// Admin pages: copy an invitation link to the clipboard (`.copy-button[data-copy]`).
// The confirmation word comes from the page (data-copied on the button), not from here.

async function copy(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a LAN: no Clipboard API; select the text of a temporary field instead.
  const field = document.createElement("textarea");
  field.value = text;
  field.setAttribute("readonly", "");
  field.style.position = "fixed";
  field.style.opacity = "0";
  document.body.append(field);
  field.select();
  document.execCommand("copy");
  field.remove();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest(".copy-button[data-copy]");
  if (!button) return;
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  try {
    await copy(button.dataset.copy);
    button.textContent = button.dataset.copied || "✓";
  } catch {
    // Copy refused: select the link's field so the organiser can copy it by hand.
    const field = button.parentElement && button.parentElement.querySelector("input.copy");
    if (field) field.select();
    return;
  }
  setTimeout(() => { button.textContent = label; }, 2000);
});
