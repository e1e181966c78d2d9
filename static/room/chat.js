// Text chat: not pre-moderated; moderators hide a message afterwards, and it disappears
// for everyone.
import { $, button, el } from "./dom.js";

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
    if (list.querySelector(`[data-id="${Number(message.id)}"]`)) return;
    const mine = message.author_id === this.room.me.id;
    list.append(el("li", { dataset: { id: message.id }, class: mine ? "mine" : null },
      el("span", { class: "author" }, message.author),
      el("span", { class: "text" }, message.text),
      this.room.can("hide_chat") ? button(this.t("hide"),
        () => this.room.act("chat.hide", { message_id: message.id }), { class: "small" }) : null));
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
