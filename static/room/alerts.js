// A moderator's alerts: pending questions and raised hands counted in the page title (seen
// from another browser tab), and, when the moderator turns it on, a short sound for each
// new one. The sound is made here (Web Audio), no file to load.
export class Alerts {
  constructor(checkbox) {
    this.baseTitle = document.title;
    this.counts = { questions: 0, hands: 0 };
    this.played = 0; // how many sounds were played (read by the tests)
    this.checkbox = checkbox;
    checkbox.checked = localStorage.getItem("causerie.alert-sound") === "on";
    checkbox.addEventListener("change", () => {
      localStorage.setItem("causerie.alert-sound", checkbox.checked ? "on" : "off");
      if (checkbox.checked) this.context(); // created on a click: allowed to make sound
    });
  }

  /** New counts for some kinds; more than before makes the sound. */
  update(counts) {
    const before = this.counts;
    this.counts = { ...before, ...counts };
    const total = this.counts.questions + this.counts.hands;
    document.title = total ? `(${total}) ${this.baseTitle}` : this.baseTitle;
    const grew = Object.keys(counts).some((kind) => this.counts[kind] > before[kind]);
    if (grew && this.checkbox.checked) this.beep();
  }

  context() {
    if (!this.audio) this.audio = new AudioContext();
    return this.audio;
  }

  beep() {
    const audio = this.context();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.25);
    this.played += 1;
  }
}
