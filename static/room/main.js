// The room: join, then keep the page in step with the server through one socket.io
// connection; publish and receive media; rejoin and renegotiate by itself after a network
// drop or a server restart, without a page reload.
import { $, flash, show } from "./dom.js";
import { Strings } from "./strings.js";
import { Connection, RequestError } from "./connection.js";
import { Publisher, Subscriber } from "./media.js";
import { Player } from "./player.js";
import { BroadcastPlayer } from "./broadcast.js";
import { QuestionBoard } from "./qa.js";
import { StagePanel } from "./stage.js";
import { ChatPanel } from "./chat.js";
import { PeoplePanel } from "./people.js";
import { Captions } from "./captions.js";
import { Tabs } from "./tabs.js";
import { Prompt } from "./prompt.js";
import { Alerts } from "./alerts.js";
import { MicMeter } from "./meter.js";
import { Reports } from "./reports.js";

const WAITING_RETRY_MS = 5000;

function browserKey() {
  let key = localStorage.getItem("causerie.browser_key");
  if (!key || !/^[A-Za-z0-9-]{16,64}$/.test(key)) {
    const bytes = crypto.getRandomValues(new Uint8Array(18));
    key = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("causerie.browser_key", key);
  }
  return key;
}

class Room {
  constructor(cafeElement) {
    this.cafe = cafeElement.dataset;
    this.strings = new Strings($("room-strings"));
    this.t = (key, params) => this.strings.t(key, params);
    this.me = { id: null, role: null, pseudonym: "" };
    this.permissions = new Set();
    this.iceServers = [];
    this.publishers = [];
    this.joined = false;
    this.ended = false;
    this.pseudonym = "";
    this.connection = null;
    this.publisher = null;
    this.subscriber = null;
    this.player = new Player({
      video: $("stage-video"), empty: $("player-empty"),
      unmuteButton: $("unmute"), audioBox: $("remote-audio"),
      words: { waiting: this.t("camera.waiting"), off: this.t("camera.stopped") },
    });
    this.broadcast = new BroadcastPlayer({
      video: $("stage-video"), url: this.cafe.hls || "",
      onPlaying: (blocked) => this.player.broadcastSound(blocked),
    });
    this.onStage = false;
    this.overCapacity = false; // the server said the café's WebRTC places are taken
    this.dataSaving = localStorage.getItem("causerie.data-saving") === "1";
    this.prompter = new Prompt($("prompt-dialog"));
    this.alerts = new Alerts($("alert-sound"));
    this.meter = new MicMeter($("mic-level"));
    setInterval(() => this.tick(), 1000);
    this.tabs = new Tabs(this);
    this.reports = new Reports(this);
    this.questions = new QuestionBoard(this);
    this.stage = new StagePanel(this);
    this.chat = new ChatPanel(this);
    this.people = new PeoplePanel(this);
    this.captions = new Captions(this);
    this.bindControls();
  }

  // --- helpers used by the panels ------------------------------------------------------

  can(permission) {
    return this.permissions.has(permission);
  }

  announce(text) {
    $("announcer").textContent = text;
  }

  notice(text) {
    const node = $("room-notice");
    node.textContent = text || "";
    node.hidden = !text;
  }

  setBadge(name, count) {
    this.tabs.badge(name, count);
  }

  prompt(label, options) {
    return this.prompter.ask(label, options);
  }

  errorText(error) {
    if (error instanceof RequestError && error.code === "timeout") return this.t("timeout");
    return error.message || this.t("error", { error: String(error) });
  }

  /** Sends an action; shows the server's (translated) refusal in `errorNode` or as a notice.
   *  Resolves to true when the server accepted it. */
  async act(event, payload, errorNode = null) {
    try {
      await this.connection.request(event, payload);
      if (errorNode) flash(errorNode, "");
      return true;
    } catch (error) {
      if (errorNode) flash(errorNode, this.errorText(error));
      else this.notice(this.errorText(error));
      return false;
    }
  }

  /** Shows what this role may use, hides the rest (the server checks every action anyway). */
  applyPermissions(permissions) {
    this.permissions = permissions;
    for (const node of document.querySelectorAll("[data-needs]")) {
      node.hidden = !this.can(node.dataset.needs);
    }
  }

  /** One "not started yet" notice: the page's own when it has one, else the room's. */
  waitingNotice(errorText) {
    const notLive = document.getElementById("not-live-notice");
    if (errorText) {
      this.notice(errorText);
    } else if (notLive) {
      notLive.hidden = false;
      this.notice("");
    } else {
      this.notice(this.t("state.waiting"));
    }
  }

  // --- joining ---------------------------------------------------------------------------

  start(pseudonym) {
    this.pseudonym = pseudonym;
    localStorage.setItem("causerie.pseudonym", pseudonym);
    this.connection = new Connection({
      node: this.cafe.mediaNode || "",
      onState: (state) => this.showState(state),
      onConnect: () => this.join(),
    });
    this.listen();
  }

  showState(state) {
    const node = $("connection-state");
    node.dataset.state = state;
    node.textContent = this.t(`state.${state}`);
    document.body.dataset.connection = state;
  }

  async join() {
    const payload = {
      cafe: this.cafe.slug, pseudonym: this.pseudonym, browser_key: browserKey(),
      lang: this.cafe.lang === "en" ? "en" : "fr",
    };
    if (this.cafe.invite) payload.invite = this.cafe.invite;
    let ack;
    try {
      ack = await this.connection.request("join", payload);
    } catch (error) {
      return this.joinFailed(error);
    }
    this.joined = true;
    clearTimeout(this.retryTimer);
    this.enter(ack);
  }

  joinFailed(error) {
    if (error.code === "already_joined") return;
    const waiting = error.code === "forbidden" && this.cafe.status === "scheduled";
    if (waiting || error.code === "timeout" || error.code === "unavailable") {
      // Not open yet (or the server is busy): try again, the page opens the room by itself.
      // Until the join succeeds nobody holds a permission: no console, no form, no hand.
      this.applyPermissions(new Set());
      document.body.dataset.phase = "waiting";
      show($("join-panel"), false);
      show($("room"), true);
      this.waitingNotice(waiting ? null : this.errorText(error));
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => { if (this.connection.connected) this.join(); },
        WAITING_RETRY_MS);
      return;
    }
    this.connection.close();
    this.connection = null;
    show($("join-panel"), true);
    show($("room"), false);
    flash($("join-error"), this.errorText(error));
  }

  /** The join ack: everything this role may see, as of now. Also after a reconnection. */
  enter(ack) {
    const { participant } = ack;
    this.me = { id: participant.id, role: participant.role, pseudonym: participant.pseudonym };
    this.applyPermissions(new Set(ack.permissions || []));
    this.iceServers = ack.ice_servers || [];
    document.body.dataset.role = participant.role;
    delete document.body.dataset.phase;
    this.tabs.reset();
    $("me").textContent = this.t("me", { pseudonym: participant.pseudonym })
      + (participant.role !== "participant" ? ` · ${this.t(`role.${participant.role}`)}` : "");
    show($("join-panel"), false);
    show($("room"), true);
    this.notice("");
    this.setCafe(ack.cafe);
    this.people.load(ack.presence || [], ack.presence_count);
    this.questions.load((ack.qa && ack.qa.questions) || []);
    this.stage.load(ack.stage || {});
    this.chat.load((ack.chat && ack.chat.messages) || []);
    this.reports.load(ack.reports);
    this.setupMedia(ack);
  }

  setCafe(cafe) {
    if (!cafe) return;
    this.cafe.status = cafe.status;
    if (cafe.opened_at) this.cafe.openedAt = cafe.opened_at;
    const label = document.getElementById("cafe-status");
    if (label) {
      label.dataset.status = cafe.status;
      label.textContent = this.t(`cafe.${cafe.status}`);
    }
    const notLive = document.getElementById("not-live-notice");
    if (notLive) notLive.hidden = cafe.status !== "scheduled";
    show($("live-badge"), cafe.status === "live");
    show($("open-cafe"), this.can("open_cafe") && cafe.status !== "live" && cafe.status !== "ended");
    show($("end-cafe"), this.can("end_cafe") && cafe.status === "live");
    if (cafe.status === "ended") this.end();
  }

  // --- media ------------------------------------------------------------------------------

  setupMedia(ack) {
    const rawAudio = localStorage.getItem("causerie.raw-audio") === "1";
    // Connections from before a reconnection are dead for the server: start over.
    if (this.subscriber) this.subscriber.close();
    this.overCapacity = false;
    this.showDataSaving();
    this.subscriber = new Subscriber(this.connection, {
      iceServers: this.iceServers,
      onTracks: (tracks) => this.player.setTracks(tracks),
      onFailed: () => this.resubscribe(),
    });
    if (!this.publisher) {
      this.publisher = new Publisher(this.connection, {
        iceServers: this.iceServers, rawAudio, onFailed: () => this.republish(),
      });
    }
    this.publisher.iceServers = this.iceServers;
    const canPublishCamera = this.can("publish_camera");
    show($("publisher"), canPublishCamera);
    if (canPublishCamera && !this.publisher.active) this.showPreview();
    const onStage = Boolean(ack.stage && ack.stage.on_stage);
    this.showOnStage(onStage);
    if (this.publisher.kinds && (canPublishCamera || onStage)) {
      this.republish();
    } else if (this.publisher.active && !canPublishCamera && !onStage) {
      this.publisher.stop({ tellServer: false });
    } else if (onStage && !this.publisher.active) {
      this.publishMicrophone();
    }
    this.setPublishers(((ack.media && ack.media.publishing) || []).map((id) => ({ participant_id: id })));
  }

  /** Who publishes changed: subscribe when someone else publishes and we receive nothing.
   *  A live subscription is kept: the server's offer has one section per slot (the video,
   *  the expert's audio, one per stage place), and a speaker going on or off stage only
   *  changes which source feeds a slot (signaling/media/router.py). Resubscribing on every
   *  `media.tracks` would cut everyone's picture for a second each time. */
  setPublishers(publishers) {
    this.publishers = publishers;
    const others = publishers.filter((p) => p.participant_id !== this.me.id);
    if (!this.can("subscribe_media") || others.length === 0) return;
    if (this.wantsBroadcast()) {
      this.startBroadcast();
      return;
    }
    this.stopBroadcast();
    if (this.subscriber.live) return;
    this.resubscribe();
  }

  resubscribe() {
    if (!this.joined || this.ended || !this.subscriber) return;
    this.subscriber.subscribe().catch((error) => {
      if (error.code === "webrtc_full" && this.broadcast.available) {
        this.overCapacity = true;
        this.applyMediaMode();
        return;
      }
      if (this.connection && this.connection.connected) this.notice(this.errorText(error));
    });
  }

  /** A parent off stage watches the HLS broadcast when they chose data saving or when the
   *  café's WebRTC places are taken; on stage, everyone is on WebRTC (no delay to talk). */
  wantsBroadcast() {
    return this.broadcast.available && this.me.role === "participant" && !this.onStage
      && (this.dataSaving || this.overCapacity);
  }

  applyMediaMode() {
    if (!this.joined || this.ended) return;
    if (this.wantsBroadcast() && this.subscriber && this.subscriber.pc) this.subscriber.close();
    this.setPublishers(this.publishers);
  }

  startBroadcast() {
    if (this.broadcast.active) return;
    this.player.setBroadcast(true);
    this.broadcast.start();
    this.announce(this.t("broadcast.on"));
    $("broadcast-note").hidden = false;
  }

  stopBroadcast() {
    if (!this.broadcast.active) return;
    this.broadcast.stop();
    this.player.setBroadcast(false);
    $("broadcast-note").hidden = true;
  }

  showDataSaving() {
    const button = $("data-saving");
    button.hidden = !(this.broadcast.available && this.me.role === "participant");
    button.setAttribute("aria-pressed", String(this.dataSaving));
  }

  toggleDataSaving() {
    this.dataSaving = !this.dataSaving;
    localStorage.setItem("causerie.data-saving", this.dataSaving ? "1" : "0");
    this.showDataSaving();
    this.applyMediaMode();
  }

  async republish() {
    if (!this.joined || this.ended || !this.publisher || !this.publisher.kinds) return;
    try {
      await this.publisher.negotiate();
    } catch (error) {
      this.notice(this.errorText(error));
    }
  }

  /** The expert sees their camera before going live (the microphone opens with "go live"). */
  async showPreview() {
    try {
      const stream = await this.publisher.preview();
      if (this.publisher.active || this.ended) return;
      this.player.showLocal(stream);
      show($("preview-note"), true);
    } catch (error) {
      this.mediaError(error);
    }
  }

  /** Each second: the time since the opening, for the expert. */
  tick() {
    const timer = $("live-timer");
    const opened = this.cafe.openedAt ? Date.parse(this.cafe.openedAt) : NaN;
    if (Number.isNaN(opened) || this.cafe.status !== "live") {
      timer.hidden = true;
      return;
    }
    const total = Math.max(0, Math.floor((Date.now() - opened) / 1000));
    const two = (n) => String(n).padStart(2, "0");
    const time = `${Math.floor(total / 3600)}:${two(Math.floor(total / 60) % 60)}:${two(total % 60)}`;
    timer.textContent = this.t("live-for", { time });
    timer.hidden = false;
  }

  async goLive() {
    try {
      const stream = await this.publisher.start({ audio: true, video: true });
      // The expert sees their own camera where the audience sees it.
      this.player.showLocal(stream);
      show($("preview-note"), false);
      this.meter.start(stream);
      this.showPublishing(true);
    } catch (error) {
      this.mediaError(error);
    }
  }

  async publishMicrophone() {
    try {
      await this.publisher.start({ audio: true, video: false });
      this.notice(this.t("stage.invited"));
    } catch (error) {
      this.mediaError(error);
    }
  }

  mediaError(error) {
    const text = error instanceof RequestError ? this.errorText(error) : (error.message || error.name);
    this.notice(this.t("media.error", { error: text }));
  }

  showPublishing(on) {
    show($("go-live"), !on);
    for (const id of ["toggle-mic", "toggle-camera", "stop-live"]) show($(id), on);
    if (!on) {
      this.player.showLocal(null);
      this.meter.stop();
    }
  }

  showOnStage(on) {
    show($("on-stage"), on && !this.can("publish_camera"));
    if (this.onStage !== on) {
      this.onStage = on;
      this.applyMediaMode();
    }
  }

  async stopPublishing(tellServer = true) {
    if (!this.publisher) return;
    await this.publisher.stop({ tellServer });
    this.showPublishing(false);
  }

  // --- events from the server --------------------------------------------------------------

  listen() {
    const on = (event, handler) => this.connection.on(event, (payload) => {
      if (this.joined) handler(payload || {});
    });
    this.connection.on("disconnect", () => { this.joined = false; });
    on("presence.changed", ({ joined, left, count }) =>
      this.people.changed(joined || [], left || [], count));
    on("cafe.status", (status) => this.setCafe({ ...status }));
    on("media.tracks", ({ publishers, slots }) => {
      if (slots && "video" in slots) this.player.setCameraOff(slots.video === null);
      this.setPublishers(publishers || []);
    });
    on("media.stopped", ({ reason }) => {
      if (reason === "muted") return; // the server stops forwarding; we keep the track
      this.stopPublishing(false);
      this.showOnStage(false);
    });
    on("qa.question", (q) => this.questions.upsert(q));
    on("qa.removed", (q) => this.questions.remove(q));
    on("qa.votes", (v) => this.questions.votes(v));
    on("stage.hands", ({ hands }) => this.stage.setHands(hands || []));
    on("stage.changed", ({ speakers }) => this.stage.setSpeakers(speakers || []));
    on("stage.hand", ({ raised }) => {
      this.stage.setHand(Boolean(raised));
      if (!raised) this.stage.showInvitation(false); // withdrawn by the staff
    });
    on("stage.invitation", () => this.stage.showInvitation(true));
    on("stage.declined", (who) => this.stage.declined(who));
    on("stage.left_out", () => this.stage.leftOut());
    on("stage.invited", () => {
      this.stage.showInvitation(false);
      this.stage.setHand(false);
      this.showOnStage(true);
      this.publishMicrophone();
    });
    on("stage.dismissed", () => {
      this.stopPublishing(false);
      this.showOnStage(false);
      this.notice(this.t("stage.dismissed"));
    });
    on("stage.muted", ({ muted }) => {
      this.setStageMic(!muted);
      if (muted) this.notice(this.t("stage.muted"));
    });
    on("chat.message", (m) => this.chat.add(m));
    on("chat.hidden", (m) => this.chat.hide(m));
    on("report.new", (r) => this.reports.added(r));
    on("report.resolved", (r) => this.reports.resolved(r));
    on("captions", (c) => this.captions.show(c));
    on("captions.behind", (b) => this.captions.behind(b));
    on("moderation.participant_removed", (p) => this.people.changed([], [p.participant_id]));
    on("moderation.removed", ({ banned }) => this.leaveForGood(this.t(banned ? "banned" : "removed")));
  }

  setStageMic(enabled) {
    if (this.publisher) this.publisher.setEnabled("audio", enabled);
    const control = $("stage-mic");
    control.textContent = enabled ? this.t("mic.mute") : this.t("mic.unmute");
    control.setAttribute("aria-pressed", enabled ? "false" : "true");
  }

  /** The café ended: a message, media stopped, no more reconnection. */
  end() {
    if (this.ended) return;
    this.ended = true;
    this.leaveForGood(null);
  }

  /** The person leaves on purpose: the server is told, the page does not come back by itself. */
  async leave() {
    sessionStorage.removeItem(`causerie.joined.${this.cafe.slug}`);
    if (this.connection && this.connection.connected) {
      try { await this.connection.request("leave", {}); } catch { /* leaving anyway */ }
    }
    this.leaveForGood(this.t("left"));
  }

  leaveForGood(message) {
    this.joined = false;
    this.notice("");
    const notLive = document.getElementById("not-live-notice");
    if (notLive) notLive.hidden = true;
    if (this.connection) {
      this.connection.refuseReconnect = true;
      this.connection.close();
    }
    if (this.subscriber) this.subscriber.close();
    this.stopBroadcast();
    if (this.publisher) this.publisher.stop({ tellServer: false });
    this.player.clear();
    show($("room"), false);
    show($("join-panel"), false);
    const panel = $("ended-panel");
    if (message) panel.querySelector("p").textContent = message;
    show(panel, true);
  }

  // --- controls -----------------------------------------------------------------------------

  bindControls() {
    $("join-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const pseudonym = $("pseudonym").value.trim();
      if (!pseudonym) return;
      flash($("join-error"), "");
      if (!this.connection) this.start(pseudonym);
    });
    $("pseudonym").value = localStorage.getItem("causerie.pseudonym") || "";
    $("open-cafe").addEventListener("click", async () => {
      try {
        const ack = await this.connection.request("cafe.open", {});
        this.setCafe(ack.cafe);
      } catch (error) { this.notice(this.errorText(error)); }
    });
    $("end-cafe").addEventListener("click", async () => {
      if (!window.confirm(this.t("confirm.end"))) return;
      try {
        const ack = await this.connection.request("cafe.end", {});
        this.setCafe(ack.cafe);
      } catch (error) { this.notice(this.errorText(error)); }
    });
    $("bar-ask").addEventListener("click", () => {
      this.tabs.select($("tab-questions"));
      const box = $("question-text");
      box.scrollIntoView({ block: "center" });
      box.focus();
    });
    $("leave-cafe").addEventListener("click", () => this.leave());
    $("data-saving").addEventListener("click", () => this.toggleDataSaving());
    $("go-live").addEventListener("click", () => this.goLive());
    $("stop-live").addEventListener("click", () => this.stopPublishing(true));
    $("toggle-mic").addEventListener("click", (event) => {
      const muted = event.currentTarget.getAttribute("aria-pressed") !== "true";
      this.publisher.setEnabled("audio", !muted);
      event.currentTarget.setAttribute("aria-pressed", String(muted));
      event.currentTarget.textContent = muted ? this.t("mic.unmute") : this.t("mic.mute");
    });
    $("toggle-camera").addEventListener("click", (event) => {
      const off = event.currentTarget.getAttribute("aria-pressed") !== "true";
      this.publisher.setEnabled("video", !off);
      event.currentTarget.setAttribute("aria-pressed", String(off));
      event.currentTarget.textContent = off ? this.t("camera.on") : this.t("camera.off");
    });
    $("stage-mic").addEventListener("click", (event) => {
      this.setStageMic(event.currentTarget.getAttribute("aria-pressed") === "true");
    });
  }
}

export function startRoom(doc) {
  const cafeElement = doc.getElementById("cafe");
  if (!cafeElement || !doc.getElementById("join-form")) return null;
  const room = new Room(cafeElement);
  // For tests and for support: the live objects, read-only by convention.
  window.causerie = {
    room,
    get subscriber() { return room.subscriber ? room.subscriber.pc : null; },
    get publisher() { return room.publisher ? room.publisher.pc : null; },
  };
  // An invited expert or moderator, or someone back after a reload, joins straight away.
  const saved = localStorage.getItem("causerie.pseudonym");
  if (saved && (room.cafe.invite || sessionStorage.getItem(`causerie.joined.${room.cafe.slug}`))) {
    room.start(saved);
  }
  doc.getElementById("join-form").addEventListener("submit", () => {
    sessionStorage.setItem(`causerie.joined.${room.cafe.slug}`, "1");
  });
  return room;
}
