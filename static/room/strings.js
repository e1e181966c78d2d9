// The interface's words come from the page (<template id="room-strings">, rendered by the
// server in the user's language): the scripts hold no language of their own.

export class Strings {
  constructor(template) {
    this.table = new Map();
    for (const node of template.content.querySelectorAll("[data-key]")) {
      this.table.set(node.dataset.key, node.textContent.trim());
    }
  }

  /** t("votes", {count: 3}): gettext's %(name)s placeholders, filled here. */
  t(key, params = {}) {
    const text = this.table.get(key) ?? key;
    return text.replace(/%\((\w+)\)s/g, (match, name) =>
      name in params ? String(params[name]) : match);
  }
}
