// Questions: the audience's list (approved, by votes), "my questions" (pending, rejected with
// the reason), the expert's buttons and the moderators' pending queue with its keys.
import { watchNote } from "./watch.js";
import { $, button, el, show } from "./dom.js";

const VOTABLE = new Set(["approved", "answering"]);

/** The words of a question, lower case, without accents or a plural "s", long ones only. */
function words(text) {
  return new Set(text.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "")
    .split(/[^a-z0-9]+/).filter((w) => w.length > 2).map((w) => w.replace(/s$/, "")));
}

/** How alike two questions read (Dice coefficient of their words, 0..1). */
export function similarity(a, b) {
  const left = words(a);
  const right = words(b);
  if (!left.size || !right.size) return 0;
  let common = 0;
  for (const word of left) if (right.has(word)) common += 1;
  return (2 * common) / (left.size + right.size);
}

function byRank(a, b) {
  return (b.votes - a.votes) || a.created_at.localeCompare(b.created_at) || (a.id - b.id);
}

/** Replaces `old` by `fresh`, giving focus back to the same action if it had it. */
function swap(old, fresh) {
  const focused = old.contains(document.activeElement) && document.activeElement.dataset.action;
  old.replaceWith(fresh);
  if (focused) {
    const again = fresh.querySelector(`[data-action="${focused}"]`);
    if (again) again.focus();
  }
}

/** Keeps `list`'s children as the given items, in order, rebuilding only what changed. */
function reconcile(list, items, render) {
  const existing = new Map([...list.children].map((li) => [li.dataset.id, li]));
  let previous = null;
  for (const item of items) {
    const key = String(item.id);
    const signature = JSON.stringify(item);
    let li = existing.get(key);
    existing.delete(key);
    if (!li || li.dataset.signature !== signature) {
      const fresh = render(item);
      fresh.dataset.id = key;
      fresh.dataset.signature = signature;
      if (li) swap(li, fresh);
      li = fresh;
    }
    const wantedPlace = previous ? previous.nextSibling : list.firstChild;
    if (wantedPlace !== li) list.insertBefore(li, wantedPlace);
    previous = li;
  }
  for (const li of existing.values()) li.remove();
}

export class QuestionBoard {
  constructor(room) {
    this.room = room;
    this.t = room.t;
    this.questions = new Map();
    this.selected = null; // the moderator's selected pending question id
    this.bindForm();
    this.bindKeys();
    setInterval(() => this.refreshAges(), 15000);
  }

  load(questions) {
    this.questions = new Map(questions.map((q) => [q.id, q]));
    this.render();
  }

  /** `qa.question`: a question created or changed, in this viewer's view. */
  upsert(question) {
    const before = this.questions.get(question.id);
    // Moderators get the public copy then their own (a superset): keep the richer fields.
    const merged = before ? { ...before, ...question } : question;
    if (before && "voted" in before && !("voted" in question)) merged.voted = before.voted;
    this.questions.set(question.id, merged);
    if (!before || before.status !== merged.status) this.announceNew(merged);
    this.render();
  }

  /** `qa.removed`. The author of a merged question keeps it in "my questions", saying
   *  where it went, rather than seeing it vanish. */
  remove({ id, reason, merged_into: mergedInto }) {
    const question = this.questions.get(id);
    if (question && question.mine && reason === "merged") {
      this.questions.set(id, { ...question, status: "merged", merged_into: mergedInto });
      this.room.announce(this.mergedText(question.merged_into ?? mergedInto));
      this.render();
      return;
    }
    this.questions.delete(id);
    if (this.selected === id) this.selected = null;
    this.render();
  }

  votes({ id, votes, voted }) {
    const question = this.questions.get(id);
    if (!question) return;
    question.votes = votes;
    if (voted !== undefined) question.voted = voted;
    this.render();
  }

  announceNew(question) {
    if (question.status === "pending" && this.room.can("moderate_questions") && !question.mine) {
      this.room.announce(this.t("new-question", { text: question.text }));
    } else if (question.status === "approved" && !this.room.can("moderate_questions")) {
      this.room.announce(this.t("new-question", { text: question.text }));
    }
  }

  mergedText(targetId) {
    const target = this.questions.get(targetId);
    return target ? this.t("merged-into", { text: target.text }) : this.t("merged-hidden");
  }

  list(...statuses) {
    return [...this.questions.values()].filter((q) => statuses.includes(q.status));
  }

  render() {
    const answering = this.list("answering");
    show($("answering-box"), answering.length > 0);
    reconcile($("answering"), answering, (q) => this.item(q, "div"));

    const approved = this.list("approved").sort(byRank);
    reconcile($("approved-questions"), approved, (q) => this.item(q));
    show($("approved-empty"), approved.length === 0);

    const answered = this.list("answered")
      .sort((a, b) => (b.answered_at || "").localeCompare(a.answered_at || ""));
    reconcile($("answered-questions"), answered, (q) => this.item(q));
    $("answered-count").textContent = answered.length ? `(${answered.length})` : "";

    const mine = [...this.questions.values()]
      .filter((q) => q.mine && ["pending", "rejected", "merged"].includes(q.status))
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
    reconcile($("my-questions"), mine, (q) => this.item(q));
    show($("mine-box"), mine.length > 0);

    if (this.room.can("moderate_questions")) {
      const pending = this.list("pending")
        .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id);
      if (!pending.some((q) => q.id === this.selected)) {
        this.selected = pending.length ? pending[0].id : null;
      }
      reconcile($("pending-questions"), pending, (q) => this.pendingItem(q));
      show($("pending-empty"), pending.length === 0);
      $("pending-count").textContent = pending.length ? `(${pending.length})` : "";
      this.room.setBadge("moderation", pending.length);
      this.room.alerts.update({ questions: pending.length });
    }
  }

  authorLine(q) {
    const name = q.author || this.t("anonymous");
    const parts = [q.anonymous && q.author ? `${name} · ${this.t("anonymous")}` : name];
    if (q.mine) parts.push(this.t("you"));
    if (q.edited) parts.push(this.t("edited"));
    return parts.join(" ");
  }

  item(q, tag = "li") {
    const actions = el("div", { class: "actions" });
    const node = el(tag, { class: `question status-${q.status}` },
      el("p", { class: "text" }, q.text),
      el("p", { class: "meta" },
        el("span", { class: "author" }, this.authorLine(q)),
        VOTABLE.has(q.status) || q.status === "answered"
          ? el("span", { class: "votes" }, this.room.strings.tn("votes", q.votes)) : null,
        q.mine && !VOTABLE.has(q.status)
          ? el("span", { class: "badge" }, this.t(`status.${q.status}`)) : null),
      q.status === "rejected" && q.reject_reason
        ? el("p", { class: "reason" }, this.t("reason", { reason: q.reject_reason })) : null,
      q.status === "merged" ? el("p", { class: "reason" }, this.mergedText(q.merged_into)) : null,
      actions);

    // The expert answers rather than votes (the permission allows it, the view need not).
    if (VOTABLE.has(q.status) && this.room.can("vote") && !this.room.can("answer_questions")) {
      actions.append(button(q.voted ? this.t("unvote") : this.t("vote"),
        () => this.room.act(q.voted ? "qa.unvote" : "qa.vote", { question_id: q.id }),
        { class: "vote", "aria-pressed": q.voted ? "true" : "false", dataset: { action: "vote" } }));
    }
    if (VOTABLE.has(q.status) || q.status === "answered") {
      const report = this.room.reports.button("question", q.id, q.mine ? this.room.me.id : null);
      if (report) actions.append(report);
    }
    if (q.mine && q.status === "pending") {
      actions.append(button(this.t("withdraw"),
        () => this.room.act("qa.withdraw", { question_id: q.id }), { dataset: { action: "withdraw" } }));
    }
    if (this.room.can("answer_questions")) {
      if (q.status === "approved") {
        actions.append(button(this.t("answer-now"),
          () => this.room.act("qa.answering", { question_id: q.id }),
          { class: "primary", dataset: { action: "answering" } }));
      }
      if (q.status === "approved" || q.status === "answering") {
        actions.append(button(this.t("mark-answered"),
          () => this.room.act("qa.answered", { question_id: q.id }), { dataset: { action: "answered" } }));
      }
      if (q.status === "answering") {
        actions.append(button(this.t("requeue"),
          () => this.room.act("qa.requeue", { question_id: q.id }), { dataset: { action: "requeue" } }));
      }
    }
    return node;
  }

  pendingItem(q) {
    const node = el("li", {
      class: `question status-pending${q.id === this.selected ? " selected" : ""}`,
      "aria-current": q.id === this.selected ? "true" : null,
      onclick: () => { this.selected = q.id; this.render(); },
    },
    el("p", { class: "text" }, q.text),
    watchNote(this.t, q.watch),
    q.edited ? el("p", { class: "original" }, q.original_text) : null,
    el("p", { class: "meta" }, el("span", { class: "author" }, this.authorLine(q)),
      el("span", { class: "age", dataset: { since: q.created_at } }, this.age(q.created_at)),
      el("span", { class: "votes" }, this.room.strings.tn("votes", q.votes || 0))),
    el("div", { class: "actions" },
      button(this.t("approve"), () => this.approve(q.id), { class: "primary", dataset: { action: "approve" } }),
      button(this.t("reject"), () => this.reject(q.id), { dataset: { action: "reject" } }),
      button(this.t("edit"), () => this.edit(q.id), { dataset: { action: "edit" } }),
      button(this.t("merge"), () => this.merge(q.id), { dataset: { action: "merge" } })));
    return node;
  }

  /** "asked 3 minutes ago", in the page's language (the browser's Intl data). */
  age(iso) {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (!this.relative) {
      this.relative = new Intl.RelativeTimeFormat(document.documentElement.lang || "fr",
        { numeric: "auto" });
    }
    const ago = seconds < 60 ? this.relative.format(-Math.round(seconds), "second")
      : seconds < 3600 ? this.relative.format(-Math.floor(seconds / 60), "minute")
        : this.relative.format(-Math.floor(seconds / 3600), "hour");
    return this.t("asked-ago", { ago });
  }

  /** Ages move on by themselves: refreshed in place (the items are not rebuilt). */
  refreshAges() {
    for (const node of document.querySelectorAll("#pending-questions .age[data-since]")) {
      node.textContent = this.age(node.dataset.since);
    }
  }

  approve(id) {
    return this.room.act("qa.approve", { question_id: id });
  }

  async reject(id) {
    const presets = ["off-topic", "duplicate", "personal", "inappropriate"]
      .map((key) => this.t(`reject.${key}`));
    const reason = await this.room.prompt(this.t("prompt.reject"), { value: "", presets });
    if (reason === null) return;
    await this.room.act("qa.reject", { question_id: id, reason });
  }

  async edit(id) {
    const q = this.questions.get(id);
    const text = await this.room.prompt(this.t("prompt.edit"), { value: q ? q.text : "" });
    if (text === null || !text.trim()) return;
    await this.room.act("qa.edit", { question_id: id, text });
  }

  /** The merge dialog lists the possible targets, the most similar first (and chosen). */
  async merge(id) {
    const source = this.questions.get(id);
    const targets = [...this.questions.values()]
      .filter((q) => q.id !== id && ["pending", "approved", "answering"].includes(q.status))
      .map((q) => ({ q, score: source ? similarity(source.text, q.text) : 0 }))
      .sort((a, b) => b.score - a.score || a.q.id - b.q.id)
      .map(({ q }) => ({ value: String(q.id), label: q.text.slice(0, 90) }));
    if (!targets.length) return;
    const into = await this.room.prompt(this.t("prompt.merge"), { options: targets });
    if (into === null) return;
    await this.room.act("qa.merge", { question_id: id, into: Number(into) });
  }

  move(step) {
    const ids = [...$("pending-questions").children].map((li) => Number(li.dataset.id));
    if (!ids.length) return;
    const index = Math.max(0, ids.indexOf(this.selected));
    this.selected = ids[Math.min(ids.length - 1, Math.max(0, index + step))];
    this.render();
    const li = $("pending-questions").querySelector(".selected");
    if (li) li.scrollIntoView({ block: "nearest" });
  }

  bindKeys() {
    document.addEventListener("keydown", (event) => {
      if (!this.room.can("moderate_questions") || $("panel-moderation").hidden) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      if (target.closest && target.closest("input, textarea, select, dialog")) return;
      const id = this.selected;
      const actions = {
        j: () => this.move(1), k: () => this.move(-1),
        a: () => id && this.approve(id), r: () => id && this.reject(id),
        e: () => id && this.edit(id), m: () => id && this.merge(id),
      };
      const action = actions[event.key.toLowerCase()];
      if (!action) return;
      event.preventDefault();
      action();
    });
  }

  bindForm() {
    const form = $("ask-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = $("question-text").value.trim();
      if (!text) return;
      const ok = await this.room.act("qa.ask", {
        text, anonymous: $("question-anonymous").checked,
      }, $("ask-error"));
      if (ok) {
        form.reset();
        this.room.announce(this.t("question-sent"));
      }
    });
  }
}
