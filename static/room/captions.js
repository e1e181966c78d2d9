// Live captions (signaling/protocol.md, "Live captions"): a `captions` message carries one
// line {id, speaker, text, start, end, final}; the line with that id is replaced as the
// phrase grows (interims, then its final), a new id starts a new line. `captions.behind`
// says a phrase was dropped: the page says so instead of going silent. On/off and size are
// the reader's choice, kept in localStorage.
import { $ } from "./dom.js";

const KEEP_LINES = 4;
const BEHIND_AT_LEAST_MS = 5000; // the notice stays readable, even if captions catch up at once
const BEHIND_AT_MOST_MS = 20000; // and goes when nothing more is dropped
const SIZES = ["small", "medium", "large", "x-large"];

export class Captions {
  constructor(room) {
    this.t = room.t;
    this.box = $("captions");
    this.notice = $("captions-behind");
    this.behindSince = 0;
    this.noticeTimer = null;
    this.on = localStorage.getItem("causerie.captions") !== "off";
    this.size = Math.max(0, SIZES.indexOf(localStorage.getItem("causerie.captions-size") || "medium"));
    $("captions-toggle").addEventListener("click", () => { this.on = !this.on; this.apply(); });
    $("captions-smaller").addEventListener("click", () => this.resize(-1));
    $("captions-larger").addEventListener("click", () => this.resize(1));
    this.apply();
  }

  resize(step) {
    this.size = Math.min(SIZES.length - 1, Math.max(0, this.size + step));
    this.apply();
  }

  apply() {
    localStorage.setItem("causerie.captions", this.on ? "on" : "off");
    localStorage.setItem("causerie.captions-size", SIZES[this.size]);
    this.box.hidden = !this.on;
    this.box.dataset.size = SIZES[this.size];
    const toggle = $("captions-toggle");
    toggle.textContent = this.on ? this.t("captions.hide") : this.t("captions.show");
    toggle.setAttribute("aria-pressed", this.on ? "true" : "false");
  }

  /** Show a `captions` message: replace the text of its line, or start a new line. */
  show(caption) {
    if (!caption || typeof caption.text !== "string" || !caption.text) return;
    const id = String(caption.id ?? "");
    let line = id ? this.line(id) : null;
    if (!line) line = this.newLine(id, caption.speaker);
    line.querySelector(".text").textContent = caption.text;
    line.dataset.final = caption.final === false ? "false" : "true";
    if (caption.final !== false) this.caughtUp();
  }

  /** A phrase was dropped (`captions.behind`): close its line and say captions are late. */
  behind(info) {
    if (!info) return;
    const id = String(info.id ?? "");
    const line = (id && this.line(id)) || this.newLine(id, info.speaker);
    line.dataset.final = "true";
    if (!line.querySelector(".cut")) {
      const cut = document.createElement("span");
      cut.className = "cut";
      cut.textContent = ` ${this.t("captions.cut")}`;
      line.append(cut);
    }
    this.notice.hidden = false;
    this.behindSince = Date.now();
    this.later(BEHIND_AT_MOST_MS);
  }

  caughtUp() {
    if (this.notice.hidden) return;
    this.later(Math.max(0, this.behindSince + BEHIND_AT_LEAST_MS - Date.now()));
  }

  later(ms) {
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => { this.notice.hidden = true; }, ms);
  }

  line(id) {
    return [...this.box.children].find((p) => p.dataset.line === id) || null;
  }

  newLine(id, speaker) {
    const line = document.createElement("p");
    line.dataset.line = id;
    if (speaker) {
      const who = document.createElement("span");
      who.className = "speaker";
      who.textContent = `${speaker}: `;
      line.append(who);
    }
    const text = document.createElement("span");
    text.className = "text";
    line.append(text);
    this.box.append(line);
    while (this.box.children.length > KEEP_LINES) this.box.firstElementChild.remove();
    return line;
  }
}
