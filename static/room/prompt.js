// A small modal question (reject reason, edit text, merge target) on a <dialog>: no
// window.prompt, which phones render badly and which blocks the page.
export class Prompt {
  constructor(dialog) {
    this.dialog = dialog;
    this.label = dialog.querySelector("#prompt-label");
    this.input = dialog.querySelector("#prompt-input");
    this.select = dialog.querySelector("#prompt-select");
    this.presets = dialog.querySelector("#prompt-presets");
  }

  /** Resolves to the text (or the chosen option's value), or null when cancelled. */
  ask(label, { value = "", options = null, presets = [] } = {}) {
    this.label.textContent = label;
    // Ready-made answers (a rejection's usual reasons): one tap fills the text, which
    // stays editable for a reason of one's own.
    this.presets.replaceChildren(...presets.map((text) => {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "small preset";
      chip.textContent = text;
      chip.addEventListener("click", () => { this.input.value = text; this.input.focus(); });
      return chip;
    }));
    this.presets.hidden = presets.length === 0;
    const choosing = Array.isArray(options);
    this.input.hidden = choosing;
    this.select.hidden = !choosing;
    this.label.htmlFor = choosing ? "prompt-select" : "prompt-input";
    if (choosing) {
      this.select.replaceChildren(...options.map((o) => {
        const option = document.createElement("option");
        option.value = o.value;
        option.textContent = o.label;
        return option;
      }));
    } else {
      this.input.value = value;
    }
    this.dialog.returnValue = "";
    this.dialog.showModal();
    (choosing ? this.select : this.input).focus();
    return new Promise((resolve) => {
      this.dialog.addEventListener("close", () => {
        if (this.dialog.returnValue !== "ok") resolve(null);
        else resolve(choosing ? this.select.value : this.input.value);
      }, { once: true });
    });
  }
}
