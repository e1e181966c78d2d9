// The stage as received: the expert's video in <video>, every audio track in its own
// <audio> (so several speakers mix), sound on when the browser allows it, else a
// "tap for sound" button (phones block sound until a tap).

// No new picture for this long: the camera is off (or the expert stopped publishing).
const STALL_MS = 2000;

export class Player {
  constructor({ video, empty, unmuteButton, audioBox, words }) {
    this.video = video;
    this.empty = empty;
    this.unmuteButton = unmuteButton;
    this.audioBox = audioBox;
    this.words = words; // {waiting, off}: what the empty player says
    this.audios = new Map(); // track id -> <audio>
    this.soundBlocked = false;
    this.lastFrame = 0; // performance.now() of the last picture shown, 0: none yet
    this.cameraOff = false;
    this.broadcast = false; // the café's HLS plays in the <video> (static/room/broadcast.js)
    unmuteButton.addEventListener("click", () => this.unmute());
    this.watchFrames();
    this.watchdog = setInterval(() => this.checkStall(), 500);
  }

  /** Counts pictures as they are painted: a track that is "live" but sends nothing (camera
   *  turned off, publication stopped) would otherwise leave its last frame frozen. */
  watchFrames() {
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const onFrame = () => {
      this.lastFrame = performance.now();
      this.checkStall();
      this.video.requestVideoFrameCallback(onFrame);
    };
    this.video.requestVideoFrameCallback(onFrame);
  }

  /** The expert's camera slot is empty (media.tracks) or comes back. */
  setCameraOff(off) {
    this.cameraOff = off;
    this.checkStall();
  }

  checkStall() {
    if (this.local) return;
    const hasTrack = this.broadcast
      || Boolean(this.video.srcObject && this.video.srcObject.getVideoTracks().length);
    const stalled = !this.lastFrame || performance.now() - this.lastFrame > STALL_MS;
    const showing = hasTrack && !this.cameraOff && !stalled;
    // The word covers the video rather than hiding it: a hidden <video> paints no frames,
    // so the frame callback would never say the pictures are back.
    this.empty.hidden = showing;
    if (!showing) {
      const seen = this.lastFrame > 0 || this.cameraOff;
      this.empty.textContent = seen ? this.words.off : this.words.waiting;
    }
  }

  /** The publisher's own camera in the player (muted, mirrored), or back to received media. */
  showLocal(stream) {
    this.local = stream;
    this.video.classList.toggle("mirrored", Boolean(stream));
    if (stream) {
      this.video.srcObject = new MediaStream(stream.getVideoTracks());
      this.video.play().catch(() => {});
      this.empty.hidden = true;
    } else {
      this.video.srcObject = null;
      this.setTracks(this.lastTracks || []);
    }
  }

  /** The broadcast takes the <video> (its sound included), or gives it back. */
  setBroadcast(on) {
    this.broadcast = on;
    this.lastFrame = 0;
    this.video.muted = on ? this.soundBlocked : true;
    this.unmuteButton.hidden = !(this.soundBlocked && (on || this.audios.size > 0));
    this.checkStall();
  }

  /** The broadcast's play() was refused with sound (or not). */
  broadcastSound(blocked) {
    this.soundBlocked = blocked;
    this.unmuteButton.hidden = !blocked;
  }

  setTracks(tracks) {
    this.lastTracks = tracks;
    this.setAudio(tracks);
    if (this.local || this.broadcast) return;
    const videoTrack = tracks.find((t) => t.kind === "video");
    const current = this.video.srcObject && this.video.srcObject.getVideoTracks()[0];
    if (videoTrack && videoTrack !== current) {
      this.video.srcObject = new MediaStream([videoTrack]);
      this.video.play().catch(() => { /* muted video: plays once data comes */ });
    } else if (!videoTrack && current) {
      this.video.srcObject = null;
    }
    this.checkStall();
  }

  setAudio(tracks) {
    const audioTracks = tracks.filter((t) => t.kind === "audio");
    const wanted = new Set(audioTracks.map((t) => t.id));
    for (const [id, audio] of this.audios) {
      if (!wanted.has(id)) {
        audio.srcObject = null;
        audio.remove();
        this.audios.delete(id);
      }
    }
    for (const track of audioTracks) {
      if (this.audios.has(track.id)) continue;
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.srcObject = new MediaStream([track]);
      this.audioBox.append(audio);
      this.audios.set(track.id, audio);
      this.tryPlay(audio);
    }
    this.unmuteButton.hidden = !(this.soundBlocked && (this.audios.size > 0 || this.broadcast));
  }

  tryPlay(audio) {
    audio.muted = this.soundBlocked;
    audio.play().catch(() => {
      // Autoplay with sound refused: play muted, and offer the tap that unlocks sound.
      this.soundBlocked = true;
      audio.muted = true;
      audio.play().catch(() => {});
      this.unmuteButton.hidden = false;
    });
  }

  unmute() {
    this.soundBlocked = false;
    this.unmuteButton.hidden = true;
    if (this.broadcast) {
      this.video.muted = false;
      this.video.play().catch(() => {});
    }
    for (const audio of this.audios.values()) {
      audio.muted = false;
      audio.play().catch(() => {});
    }
  }

  clear() {
    this.setTracks([]);
  }
}
