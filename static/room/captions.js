// Live captions (`captions` events: {speaker, text, start, end}); on/off and size are the
// reader's choice, kept in localStorage.
import { $ } from "./dom.js";

const KEEP_LINES = 4;
const SIZES = ["small", "medium", "large", "x-large"];

export class Captions {
  constructor(room) {
    this.t = room.t;
    this.box = $("captions");
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

  add(caption) {
    if (!caption || !caption.text) return;
    const line = document.createElement("p");
    if (caption.speaker) {
      const who = document.createElement("span");
      who.className = "speaker";
      who.textContent = `${caption.speaker}: `;
      line.append(who);
    }
    line.append(document.createTextNode(caption.text));
    this.box.append(line);
    while (this.box.children.length > KEEP_LINES) this.box.firstElementChild.remove();
  }
}
