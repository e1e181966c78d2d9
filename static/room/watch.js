// What the watched words did to a question or a message, for moderators: "Held by the
// watched words: phone number". Terms come from the server as text (textContent only).
import { el } from "./dom.js";

const PATTERNS = new Set(["@telephone", "@email", "@adresse"]);

export function watchNote(t, watch) {
  if (!watch || !watch.action) return null;
  const terms = (watch.terms || []).map((term) =>
    (PATTERNS.has(term) ? t(`watch.${term.slice(1)}`) : term)).join(", ");
  return el("p", { class: `watch watch-${watch.action}`, dataset: { watch: watch.action } },
    t(`watch.${watch.action}`, { terms }));
}
