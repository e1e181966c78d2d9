// WebRTC with the server as the only peer: one connection to publish, one to receive.
// The server does not trickle ICE, so each side sends a complete SDP once gathering is over.

const GATHERING_TIMEOUT_MS = 5000;

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    // A network with a slow STUN/TURN server: send what was gathered rather than hang.
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    }, GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

function iceSession(sdp) {
  const match = /^a=ice-ufrag:(.+)$/m.exec(sdp || "");
  return match ? match[1].trim() : null;
}

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 } };

/** Camera and/or microphone to the server (`media.publish`). */
export class Publisher {
  constructor(connection, { iceServers, rawAudio, onFailed }) {
    this.connection = connection;
    this.iceServers = iceServers;
    this.rawAudio = rawAudio;
    this.onFailed = onFailed;
    this.stream = null;
    this.pc = null;
    this.kinds = null; // what the user asked for; kept across reconnections
  }

  get active() {
    return this.stream !== null;
  }

  /** The camera alone, for the expert to see themselves before going live. The
   *  microphone waits for `start` (it opens when they go live, not before). */
  async preview() {
    if (!this.previewStream) {
      this.previewStream = await navigator.mediaDevices.getUserMedia({ audio: false, video: VIDEO });
    }
    return this.previewStream;
  }

  async start(kinds) {
    this.kinds = kinds;
    if (!this.stream) {
      // Echo cancellation and gain control are right for a person in a room; tests feed a
      // known file as the microphone and ask for it untouched (localStorage flag).
      const processing = !this.rawAudio;
      const camera = kinds.video && this.previewStream ? this.previewStream : null;
      const asked = await navigator.mediaDevices.getUserMedia({
        audio: kinds.audio ? {
          echoCancellation: processing, noiseSuppression: processing,
          autoGainControl: processing,
        } : false,
        video: kinds.video && !camera ? VIDEO : false,
      });
      this.stream = camera ? new MediaStream([...camera.getVideoTracks(), ...asked.getTracks()])
        : asked;
      this.previewStream = null;
    }
    await this.negotiate();
    return this.stream;
  }

  /** A new peer connection and a new `media.publish` (first time, or after a reconnection). */
  async negotiate() {
    if (!this.stream) return;
    this.closePeer();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.videoSender = null;
    for (const track of this.stream.getTracks()) {
      const { sender } = pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
      if (track.kind === "video") this.videoSender = sender;
    }
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc && pc.connectionState === "failed") this.onFailed();
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    const ack = await this.connection.request("media.publish", {
      sdp: pc.localDescription.sdp, type: "offer",
    });
    if (pc !== this.pc) return; // stopped or replaced meanwhile
    await pc.setRemoteDescription({ type: "answer", sdp: ack.sdp });
    this.sendVideo();
  }

  setEnabled(kind, enabled) {
    for (const track of this.stream ? this.stream.getTracks() : []) {
      if (track.kind === kind) track.enabled = enabled;
    }
    if (kind === "video") this.sendVideo();
  }

  /** A camera turned off sends nothing at all (a disabled track would still send black
   *  frames): the audience's player sees the pictures stop and says the camera is off. */
  sendVideo() {
    if (!this.pc || !this.stream) return;
    const track = this.stream.getVideoTracks()[0];
    if (this.videoSender && track) {
      this.videoSender.replaceTrack(track.enabled ? track : null).catch(() => {});
    }
  }

  closePeer() {
    if (this.pc) this.pc.close();
    this.pc = null;
  }

  /** Stops the tracks (the camera light goes off); tells the server when asked to. */
  async stop({ tellServer = true } = {}) {
    this.kinds = null;
    this.closePeer();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    if (tellServer && this.connection.connected) {
      try { await this.connection.request("media.unpublish", {}); } catch { /* gone anyway */ }
    }
  }
}

/** What the server forwards to us (`media.subscribe` gives the server's offer). */
export class Subscriber {
  constructor(connection, { iceServers, onTracks, onFailed }) {
    this.connection = connection;
    this.iceServers = iceServers;
    this.onTracks = onTracks;
    this.onFailed = onFailed;
    this.pc = null;
    this.running = null;
    this.again = false;
  }

  /** (Re)subscribes; calls made while one runs are folded into one more run. */
  subscribe() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.negotiate();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async negotiate() {
    const ack = await this.connection.request("media.subscribe", {});
    const old = this.pc;
    // The same ICE session: a renegotiation of the connection we have. Otherwise the server
    // made a new connection: answer on a new one, and close the old one.
    const renegotiation = old && old.signalingState === "stable"
      && old.connectionState !== "failed" && old.connectionState !== "closed"
      && iceSession(old.remoteDescription && old.remoteDescription.sdp) === iceSession(ack.sdp);
    const pc = renegotiation ? old : this.newPeer();
    await pc.setRemoteDescription({ type: "offer", sdp: ack.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gatheringComplete(pc);
    await this.connection.request("media.answer", { sdp: pc.localDescription.sdp, type: "answer" });
    if (!renegotiation && old) old.close();
    this.pc = pc;
    this.onTracks(this.tracks());
  }

  newPeer() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.addEventListener("track", () => { if (pc === this.pc) this.onTracks(this.tracks()); });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pc && pc.connectionState === "failed") this.onFailed();
    });
    return pc;
  }

  /** A connection that is up or on its way up (not failed, not closed). */
  get live() {
    return Boolean(this.pc) && ["new", "connecting", "connected"].includes(this.pc.connectionState);
  }

  /** The live tracks being received now. */
  tracks() {
    if (!this.pc) return [];
    return this.pc.getTransceivers()
      .filter((t) => !t.stopped && (t.currentDirection === "recvonly" || t.currentDirection === "sendrecv"))
      .map((t) => t.receiver.track)
      .filter((track) => track && track.readyState === "live");
  }

  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.onTracks([]);
  }
}
