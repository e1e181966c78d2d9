// What the watched words did to a question or a message, for moderators: "Held by the
// watched words: phone number". Terms come from the server as text (textContent only).
import { el } from "./dom.js";

const PATTERNS = new Set(["@telephone", "@email", "@adresse"]);

function termsOf(t, watch) {
  return (watch.terms || []).map((term) =>
    (PATTERNS.has(term) ? t(`watch.${term.slice(1)}`) : term)).join(", ");
}

export function watchNote(t, watch) {
  if (!watch || !watch.action) return null;
  return el("p", { class: `watch watch-${watch.action}`, dataset: { watch: watch.action } },
    t(`watch.${watch.action}`, { terms: termsOf(t, watch) }));
}

// A participant whose pseudonym a watched word flags, in the moderators' list of people
// (only their copy of the presence carries `watch`).
export function watchBadge(t, watch) {
  if (!watch || !watch.action) return null;
  return el("span", { class: `watch watch-${watch.action} watch-pseudonym`,
    dataset: { watch: watch.action } }, t("watch.pseudonym", { terms: termsOf(t, watch) }));
}
