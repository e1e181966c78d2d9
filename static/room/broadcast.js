// The café's HLS broadcast in the room's <video>: for parents beyond the café's WebRTC
// places (`media.subscribe` answers `webrtc_full`) and for anyone who chose the data saving
// mode. Native HLS where the browser has it (Safari), else hls.js (from npm, served at
// /vendor/) through Media Source Extensions. The live captions come as the playlist's
// WebVTT rendition, shown on the picture.

const HLS_MODULE = "/vendor/hls.js/dist/hls.min.mjs";
const RETRY_MS = 3000;

/** Safari (and a browser without Media Source Extensions) plays HLS itself; elsewhere
 *  hls.js, even where the browser says "maybe" (recent Chromium), for one behaviour. */
function prefersNative(video) {
  if (!video.canPlayType("application/vnd.apple.mpegurl")) return false;
  const apple = /Apple/.test(navigator.vendor || "");
  return apple || !(window.MediaSource || window.ManagedMediaSource);
}

export class BroadcastPlayer {
  constructor({ video, url, onPlaying }) {
    this.video = video;
    this.url = url;
    this.onPlaying = onPlaying || (() => {});
    this.active = false;
    this.hls = null;
    this.retryTimer = null;
  }

  get available() {
    return Boolean(this.url);
  }

  async start() {
    if (this.active || !this.url) return;
    this.active = true;
    const video = this.video;
    video.srcObject = null;
    if (prefersNative(video)) {
      video.src = this.url;
      this.showCaptions();
      video.addEventListener("loadedmetadata", () => this.showCaptions(), { once: true });
      this.play();
      return;
    }
    let Hls;
    try {
      ({ default: Hls } = await import(HLS_MODULE));
    } catch {
      this.active = false;
      return;
    }
    if (!this.active) return;
    if (!Hls.isSupported()) {
      video.src = this.url; // last resort: whatever the browser can do
      this.play();
      return;
    }
    const hls = new Hls({
      enableWorker: false, // the page's CSP allows no blob: worker
      liveSyncDurationCount: 2, // two segments (2 s) behind the live edge
      liveMaxLatencyDurationCount: 6,
      manifestLoadingMaxRetry: 6,
      subtitleDisplay: true,
      renderTextTracksNatively: true,
    });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      if (hls.subtitleTracks.length) hls.subtitleTrack = 0;
      this.play();
    });
    hls.on(Hls.Events.SUBTITLE_TRACK_LOADED, () => this.showCaptions());
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || hls !== this.hls) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        // The broadcast has not started yet, or the network dropped: try again shortly.
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          if (hls === this.hls) hls.loadSource(this.url);
        }, RETRY_MS);
      }
    });
    hls.loadSource(this.url);
    hls.attachMedia(video);
  }

  /** The rendition's cues drawn on the picture. */
  showCaptions() {
    for (const track of this.video.textTracks) {
      if (track.kind === "subtitles" || track.kind === "captions") track.mode = "showing";
    }
  }

  play() {
    const video = this.video;
    video.play().then(() => this.onPlaying(false)).catch(() => {
      // Sound refused until a tap: play muted, the room offers "tap for sound".
      video.muted = true;
      video.play().catch(() => {});
      this.onPlaying(true);
    });
  }

  stop() {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.retryTimer);
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    this.video.removeAttribute("src");
    this.video.load();
  }
}
