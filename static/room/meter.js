// The expert's microphone level (a <meter>), from the published stream's audio track.
export class MicMeter {
  constructor(meter) {
    this.meter = meter;
    this.timer = null;
  }

  start(stream) {
    this.stop();
    const track = stream && stream.getAudioTracks()[0];
    if (!track) return;
    this.audio = new AudioContext();
    const source = this.audio.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.audio.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.meter.hidden = false;
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      // RMS on a loudness-like scale: speech at a normal distance fills about two thirds.
      const rms = Math.sqrt(sum / samples.length);
      this.meter.value = Math.min(1, Math.sqrt(rms) * 1.6);
    }, 100);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.audio) this.audio.close().catch(() => {});
    this.audio = null;
    this.meter.value = 0;
  }
}
