// Reports (safeguarding): a "Report" button on someone else's message, question or name,
// which asks for a reason from the list and an optional note; and, for moderators and
// organisers, the queue of open reports (live, with its count on the tab), each resolved
// with no action, hide, remove or ban. Nobody else ever sees a report.
import { $, button, el, show } from "./dom.js";

const REASONS = ["harassment", "hate", "personal_data", "inappropriate", "spam", "other"];

export class Reports {
  constructor(room) {
    this.room = room;
    this.t = room.t;
    this.open = new Map();
  }

  /** The button for something of someone else (null for one's own, or without the right). */
  button(kind, targetId, authorId) {
    if (!this.room.can("report") || authorId === this.room.me.id) return null;
    return button(this.t("report"), () => this.ask(kind, targetId),
      { class: "small quiet report-button", dataset: { action: "report" } });
  }

  async ask(kind, targetId) {
    const reason = await this.room.prompt(this.t("report.reason"), {
      options: REASONS.map((value) => ({ value, label: this.t(`reason.${value}`) })),
    });
    if (reason === null) return;
    const note = await this.room.prompt(this.t("report.note"), { value: "" });
    if (note === null) return;
    const payload = { kind, target_id: targetId, reason, note: note.trim() };
    if (await this.room.act("report.create", payload)) this.room.notice(this.t("report.sent"));
  }

  load(snapshot) {
    this.open = new Map(((snapshot && snapshot.reports) || []).map((r) => [r.id, r]));
    this.render();
  }

  added({ report }) {
    if (!report) return;
    this.open.set(report.id, report);
    this.render();
    this.room.announce(this.t("report.new", { pseudonym: report.pseudonym }));
  }

  resolved({ ids }) {
    for (const id of ids || []) this.open.delete(id);
    this.render();
  }

  render() {
    if (!this.room.can("handle_reports")) return;
    const reports = [...this.open.values()].sort((a, b) => a.id - b.id);
    $("reports").replaceChildren(...reports.map((r) => this.item(r)));
    show($("reports-empty"), reports.length === 0);
    $("reports-count").textContent = reports.length ? `(${reports.length})` : "";
    this.room.setBadge("reports", reports.length);
  }

  item(r) {
    const resolve = (resolution, confirmKey) => button(this.t(`resolve.${resolution}`), () => {
      if (confirmKey && !window.confirm(this.t(confirmKey, { pseudonym: r.pseudonym }))) return;
      this.room.act("report.resolve", { report_id: r.id, resolution });
    }, { class: `small${resolution === "ban" ? " danger" : ""}`, dataset: { resolution } });
    return el("li", { dataset: { id: r.id, kind: r.kind } },
      el("p", { class: "meta" },
        el("strong", {}, r.pseudonym), " · ", this.t(`report.kind.${r.kind}`), " · ",
        el("span", { class: "reason" }, this.t(`reason.${r.reason}`))),
      r.excerpt ? el("p", { class: "excerpt" }, r.excerpt) : null,
      r.note ? el("p", { class: "note" }, this.t("report.note-from", { note: r.note })) : null,
      el("div", { class: "actions" },
        resolve("none"),
        r.kind !== "participant" ? resolve("hide") : null,
        resolve("remove", "confirm.remove"),
        resolve("ban", "confirm.ban")));
  }
}
