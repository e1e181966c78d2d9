// Who is here; moderators can remove or ban a participant from the list, and see who a
// watched word flags (their copy of the presence marks them).
import { $, button, el } from "./dom.js";
import { watchBadge } from "./watch.js";

const STAFF = new Set(["expert", "moderator", "organiser"]);

export class PeoplePanel {
  constructor(room) {
    this.room = room;
    this.t = room.t;
    this.people = new Map();
    this.count = 0;
  }

  // In a large café the server lists only the staff to parents, with the number present
  // (`presence_count`, `count`): the list shows who it names, and "and N others".
  load(presence, count) {
    this.people = new Map(presence.map((p) => [p.participant_id, p]));
    const me = this.room.me;
    if (me && !this.people.has(me.id)) {
      this.people.set(me.id, { participant_id: me.id, pseudonym: me.pseudonym, role: me.role });
    }
    this.count = typeof count === "number" ? count : this.people.size;
    this.render();
  }

  // presence.changed: one diff (arrivals and departures batched by the server), one render
  changed(joined, left, count) {
    for (const person of joined) this.people.set(person.participant_id, person);
    for (const id of left) this.people.delete(id);
    this.count = typeof count === "number" ? count : Math.max(this.count, this.people.size);
    this.render();
  }

  render() {
    const order = (p) => (p.role === "expert" ? 0 : STAFF.has(p.role) ? 1 : 2);
    const people = [...this.people.values()]
      .sort((a, b) => order(a) - order(b) || a.pseudonym.localeCompare(b.pseudonym));
    const count = Math.max(this.count, people.length);
    const items = people.map((p) => this.item(p));
    if (count > people.length) {
      items.push(el("li", { class: "others" },
        this.room.strings.tn("others", count - people.length)));
    }
    $("presence").replaceChildren(...items);
    $("people-count").textContent = `(${count})`;
    $("present-count").textContent = this.room.strings.tn("present", count);
    const staff = people.filter((p) => STAFF.has(p.role)).length;
    $("waiting-count").textContent = this.room.strings.tn("parents", count - staff);
  }

  item(p) {
    const me = p.participant_id === this.room.me.id;
    const stage = this.room.stage;
    const speaker = stage && stage.speakers.find((s) => s.participant_id === p.participant_id);
    const actions = el("span", { class: "actions" });
    if (!me && !STAFF.has(p.role)) {
      if (speaker && this.room.can("mute")) {
        actions.append(button(speaker.muted ? this.t("unmute") : this.t("mute"),
          () => this.room.act("stage.mute", { participant_id: p.participant_id, muted: !speaker.muted }),
          { class: "small" }));
      }
      if (this.room.can("remove")) {
        actions.append(button(this.t("remove"), () => {
          if (window.confirm(this.t("confirm.remove", { pseudonym: p.pseudonym }))) {
            this.room.act("moderation.remove", { participant_id: p.participant_id });
          }
        }, { class: "small" }));
      }
      if (this.room.can("ban")) {
        actions.append(button(this.t("ban"), () => {
          if (window.confirm(this.t("confirm.ban", { pseudonym: p.pseudonym }))) {
            this.room.act("moderation.ban", { participant_id: p.participant_id });
          }
        }, { class: "small danger" }));
        actions.append(button(this.t("ban-address"), () => {
          if (window.confirm(this.t("confirm.ban-address", { pseudonym: p.pseudonym }))) {
            this.room.act("moderation.ban", { participant_id: p.participant_id, by_address: true });
          }
        }, { class: "small danger" }));
      }
    } else if (!me && p.role !== "organiser" && this.room.me.role === "organiser") {
      // an organiser bans a member of the staff by their invitation (the server revokes it)
      actions.append(button(this.t("ban"), () => {
        if (window.confirm(this.t("confirm.ban-staff", { pseudonym: p.pseudonym }))) {
          this.room.act("moderation.ban", { participant_id: p.participant_id });
        }
      }, { class: "small danger" }));
    }
    const report = this.room.reports.button("participant", p.participant_id, p.participant_id);
    if (report) actions.append(report);
    return el("li", { dataset: { id: p.participant_id } },
      el("span", { class: "name" }, p.pseudonym),
      me ? el("span", { class: "you" }, ` ${this.t("you")}`) : null,
      STAFF.has(p.role) ? el("span", { class: `badge role-${p.role}` }, this.t(`role.${p.role}`)) : null,
      watchBadge(this.t, p.watch),
      actions);
  }
}
