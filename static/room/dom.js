// Small DOM helpers. User text only ever goes through textContent.

export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

/** el("li", {class: "x", dataset: {id: 3}}, "text" | Node, ...) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function button(label, onClick, attributes = {}) {
  return el("button", { type: "button", onclick: onClick, ...attributes }, label);
}

export function show(node, visible) {
  node.hidden = !visible;
}

/** Shows an error text in a role=alert element, or hides it when `text` is empty. */
export function flash(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}
