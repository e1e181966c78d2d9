// The interface's words come from the page (<template id="room-strings">, rendered by the
// server in the user's language): the scripts hold no language of their own.

export class Strings {
  constructor(template) {
    this.table = new Map();
    for (const node of template.content.querySelectorAll("[data-key]")) {
      this.table.set(node.dataset.key, node.textContent.trim());
    }
  }

  /** tn("votes", 3): the plural form of the page's language (`votes.one`, `votes.other`,
   *  as ngettext rendered them: French says "0 vote", English "0 votes"). */
  tn(key, count, params = {}) {
    if (!this.plurals) this.plurals = new Intl.PluralRules(document.documentElement.lang || "fr");
    const form = this.plurals.select(count) === "one" ? "one" : "other";
    return this.t(`${key}.${form}`, { count, ...params });
  }

  /** t("reason", {reason: "…"}): gettext's %(name)s placeholders, filled here. */
  t(key, params = {}) {
    const text = this.table.get(key) ?? key;
    return text.replace(/%\((\w+)\)s/g, (match, name) =>
      name in params ? String(params[name]) : match);
  }
}
