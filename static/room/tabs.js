// The side panels as tabs (WAI-ARIA tabs pattern: arrows move between tabs).
import { $ } from "./dom.js";

export class Tabs {
  constructor(room) {
    this.room = room;
    this.bar = document.querySelector('.tabs[role="tablist"]');
    this.tabs = [...this.bar.querySelectorAll('[role="tab"]')];
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => this.select(tab));
      tab.addEventListener("keydown", (event) => this.onKey(event));
    }
    this.bar.addEventListener("scroll", () => this.markOverflow(), { passive: true });
    new ResizeObserver(() => this.markOverflow()).observe(this.bar);
  }

  /** data-more="start", "end" or "start end": tabs hidden on that side (the CSS fades it). */
  markOverflow() {
    const bar = this.bar;
    const sides = [];
    if (bar.scrollLeft > 1) sides.push("start");
    if (bar.scrollLeft + bar.clientWidth < bar.scrollWidth - 1) sides.push("end");
    if (sides.length) bar.dataset.more = sides.join(" ");
    else delete bar.dataset.more;
  }

  visible() {
    return this.tabs.filter((tab) => !tab.hidden);
  }

  /** After join: moderators start on their console, everyone else on the questions. */
  reset() {
    const preferred = this.room.can("moderate_questions") ? $("tab-moderation") : $("tab-questions");
    const current = this.tabs.find((tab) => tab.getAttribute("aria-selected") === "true");
    this.select(current && !current.hidden && current !== $("tab-questions") ? current : preferred);
  }

  select(tab) {
    for (const other of this.tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !selected || other.hidden;
    }
    if (tab === $("tab-chat") && this.room.chat) this.room.chat.seen();
    // The chosen tab in full view, when the bar scrolls (the others stay a swipe away).
    const box = tab.getBoundingClientRect();
    const bar = this.bar.getBoundingClientRect();
    if (box.left < bar.left) this.bar.scrollLeft -= bar.left - box.left;
    else if (box.right > bar.right) this.bar.scrollLeft += box.right - bar.right;
    this.markOverflow();
  }

  onKey(event) {
    const visible = this.visible();
    const index = visible.indexOf(event.currentTarget);
    const moves = { ArrowRight: 1, ArrowLeft: -1 };
    let next = null;
    if (event.key in moves) next = visible[(index + moves[event.key] + visible.length) % visible.length];
    else if (event.key === "Home") next = visible[0];
    else if (event.key === "End") next = visible[visible.length - 1];
    if (!next) return;
    event.preventDefault();
    this.select(next);
    next.focus();
  }

  badge(name, count) {
    const node = document.querySelector(`[data-badge="${name}"]`);
    if (node) node.textContent = count ? String(count) : "";
  }
}
