// Raised hands and the stage: my own hand, the staff's list of hands, who is on stage.
import { $, button, el, show } from "./dom.js";

export class StagePanel {
  constructor(room) {
    this.room = room;
    this.t = room.t;
    this.handRaised = false;
    this.onStage = false;
    this.speakers = [];
    this.hands = [];
    $("raise-hand").addEventListener("click", () =>
      this.room.act(this.handRaised ? "stage.lower_hand" : "stage.raise_hand", {}));
    $("leave-stage").addEventListener("click", () => this.room.act("stage.send_back", {}));
    // Invited on stage: the parent reads what will happen and answers; nothing is
    // published before they accept.
    $("stage-accept").addEventListener("click", () => this.answer(true));
    $("stage-decline").addEventListener("click", () => this.answer(false));
    $("stage-ask-leave-out").addEventListener("click", async () => {
      if (await this.room.act("stage.leave_out", {})) this.leftOut();
    });
  }

  showInvitation(on) {
    show($("stage-invitation"), on);
    if (on) {
      $("stage-leave-out").checked = false;
      $("stage-accept").focus();
      this.room.announce(this.t("stage.invitation"));
    }
  }

  leftOut() {
    const control = $("stage-ask-leave-out");
    control.disabled = true;
    control.setAttribute("aria-pressed", "true");
    this.room.notice(this.t("stage.left-out"));
  }

  async answer(accepted) {
    const payload = accepted ? { leave_out: $("stage-leave-out").checked } : {};
    const done = await this.room.act(accepted ? "stage.accept" : "stage.decline", payload,
      $("stage-invitation-error"));
    if (done) {
      this.showInvitation(false);
      if (accepted && payload.leave_out) this.leftOut();
      if (!accepted) this.room.notice(this.t("stage.you-declined"));
    }
  }

  load(snapshot) {
    this.speakers = snapshot.speakers || [];
    this.hands = snapshot.hands || [];
    this.setHand(Boolean(snapshot.hand_raised));
    this.showInvitation(Boolean(snapshot.invited));
    this.render();
  }

  setHand(raised) {
    this.handRaised = raised;
    const handButton = $("raise-hand");
    handButton.querySelector(".label").textContent = raised ? this.t("lower-hand") : this.t("raise-hand");
    handButton.setAttribute("aria-pressed", raised ? "true" : "false");
    $("hand-status").textContent = raised ? this.t("hand-raised") : this.t("hand-hint");
  }

  setSpeakers(speakers) {
    this.speakers = speakers;
    this.render();
    this.room.people.render();
  }

  setHands(hands) {
    this.hands = hands;
    this.render();
  }

  /** Staff: an invited parent said no (not an error). */
  declined({ pseudonym }) {
    const text = this.t("stage.declined", { pseudonym: pseudonym || "" });
    $("hands-declined").textContent = text;
    show($("hands-declined"), true);
    this.room.announce(text);
  }

  isSpeaker(participantId) {
    return this.speakers.some((s) => s.participant_id === participantId);
  }

  render() {
    const staff = this.room.can("manage_stage");
    const list = $("speakers");
    list.replaceChildren(...this.speakers.map((s) => el("li", {},
      el("span", { class: "name" }, s.pseudonym),
      s.participant_id === this.room.me.id ? el("span", { class: "you" }, ` ${this.t("you")}`) : null,
      s.muted ? el("span", { class: "badge" }, this.t("muted")) : null,
      staff ? el("span", { class: "actions" },
        this.room.can("mute") ? button(s.muted ? this.t("unmute") : this.t("mute"),
          () => this.room.act("stage.mute", { participant_id: s.participant_id, muted: !s.muted })) : null,
        button(this.t("back-to-audience"),
          () => this.room.act("stage.send_back", { participant_id: s.participant_id }))) : null)));
    show(list.parentElement, this.speakers.length > 0);

    if (staff) {
      $("hands").replaceChildren(...this.hands.map((h) => el("li", { "data-invited": h.invited ? "true" : "false" },
        el("span", { class: "name" }, h.pseudonym),
        h.invited ? el("span", { class: "badge" }, this.t("invited-waiting")) : null,
        el("span", { class: "actions" },
          h.invited ? null : button(this.t("bring-on-stage"),
            () => this.room.act("stage.invite", { participant_id: h.participant_id }), { class: "primary" }),
          button(h.invited ? this.t("withdraw-invitation") : this.t("dismiss-hand"),
            () => this.room.act("stage.lower_hand", { participant_id: h.participant_id }))))));
      show($("hands-empty"), this.hands.length === 0);
      this.room.setBadge("moderation-hands", this.hands.length);
      this.room.alerts.update({ hands: this.hands.length });
    }
  }
}
