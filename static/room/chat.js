// Text chat: not pre-moderated; moderators hide a message afterwards, and it disappears
// for everyone. A message a watched word holds reaches only the moderators (who release or
// hide it) and its author (marked as waiting), until a moderator releases it.
import { $, button, el } from "./dom.js";
import { watchNote } from "./watch.js";

const KEEP = 200;

export class ChatPanel {
  constructor(room) {
    this.room = room;
    this.t = room.t;
    const form = $("chat-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("chat-text");
      const text = input.value.trim();
      if (!text) return;
      if (await this.room.act("chat.send", { text }, $("chat-error"))) input.value = "";
    });
  }

  load(messages) {
    $("chat-messages").replaceChildren();
    // Moderators' snapshots keep hidden messages (marked); nobody needs to read them here.
    for (const message of messages) if (!message.hidden) this.add(message);
  }

  add(message) {
    const list = $("chat-messages");
    const existing = list.querySelector(`[data-id="${Number(message.id)}"]`);
    // A held message comes again once released: it replaces its held copy.
    if (existing && (existing.dataset.held !== "1" || message.held)) return;
    const mine = message.author_id === this.room.me.id;
    const moderator = this.room.can("hide_chat");
    const node = el("li", {
      dataset: { id: message.id, held: message.held ? "1" : "0" },
      class: [mine ? "mine" : "", message.held ? "held" : ""].join(" ").trim() || null,
    },
    el("span", { class: "author" }, message.author),
    el("span", { class: "text" }, message.text),
    message.held ? el("span", { class: "badge held-badge" }, this.t("chat.held")) : null,
    moderator && message.held ? button(this.t("chat.release"),
      () => this.room.act("chat.release", { message_id: message.id }),
      { class: "small primary", dataset: { action: "release" } }) : null,
    moderator ? button(this.t("hide"),
      () => this.room.act("chat.hide", { message_id: message.id }),
      { class: "small", dataset: { action: "hide" } }) : null,
    this.room.reports ? this.room.reports.button("chat", message.id, message.author_id) : null,
    moderator ? watchNote(this.t, message.watch) : null);
    if (existing) {
      existing.replaceWith(node);
      return;
    }
    list.append(node);
    while (list.children.length > KEEP) list.firstElementChild.remove();
    const panel = $("panel-chat");
    if (!panel.hidden) list.lastElementChild.scrollIntoView({ block: "nearest" });
    else this.room.setBadge("chat", (this.unread = (this.unread || 0) + 1));
  }

  hide({ id }) {
    const li = $("chat-messages").querySelector(`[data-id="${Number(id)}"]`);
    if (li) li.remove();
  }

  seen() {
    this.unread = 0;
    this.room.setBadge("chat", 0);
  }
}
