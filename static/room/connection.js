// One socket.io connection to the server, with acks as promises and a visible state:
// connecting -> connected -> reconnecting (socket.io retries by itself) / offline.
import { io } from "/vendor/socket.io-client/dist/socket.io.esm.min.js";

const ACK_TIMEOUT_MS = 10000;

export class RequestError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export class Connection {
  /** onState(state) with state in connecting | connected | reconnecting | offline;
   *  onConnect(isReconnect) after every (re)connection. */
  constructor({ onState, onConnect, node = "" }) {
    this.onState = onState;
    this.everConnected = false;
    this.closed = false;
    this.socket = io({
      // The café's media node: the proxy routes `?node=` to the process that holds the
      // café's media (docs/deploy/nginx.conf); empty without a cluster.
      query: node ? { node } : {},
      // The protocol's transport; long polling stays as a fallback for strict proxies.
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
    });
    this.setState("connecting");
    this.socket.on("connect", () => {
      const again = this.everConnected;
      this.everConnected = true;
      this.setState("connected");
      onConnect(again);
    });
    this.socket.on("disconnect", (reason) => {
      if (this.closed) return;
      this.setState(navigator.onLine ? "reconnecting" : "offline");
      // The server closed the socket on purpose (flood control, a restart's shutdown):
      // socket.io does not retry that case by itself, so do it, unless we were removed.
      if (reason === "io server disconnect" && !this.refuseReconnect) {
        setTimeout(() => { if (!this.closed) this.socket.connect(); }, 1000);
      }
    });
    this.socket.io.on("reconnect_attempt", () => {
      if (!this.closed) this.setState(navigator.onLine ? "reconnecting" : "offline");
    });
    window.addEventListener("offline", () => {
      if (!this.closed) this.setState("offline");
    });
    window.addEventListener("online", () => {
      if (this.closed) return;
      if (this.socket.connected) this.setState("connected");
      else {
        this.setState("reconnecting");
        this.socket.connect();
      }
    });
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  get connected() {
    return this.socket.connected;
  }

  on(event, handler) {
    this.socket.on(event, handler);
  }

  /** Emits `event` and resolves with its ack, or rejects with a RequestError. */
  async request(event, payload = {}, timeoutMs = ACK_TIMEOUT_MS) {
    let ack;
    try {
      ack = await this.socket.timeout(timeoutMs).emitWithAck(event, payload);
    } catch {
      throw new RequestError("timeout", "");
    }
    if (!ack || ack.ok !== true) {
      const error = (ack && ack.error) || {};
      if (error.code === "media_elsewhere") reloadOnce();
      throw new RequestError(error.code || "error", error.message || "");
    }
    return ack;
  }

  /** Stops for good (café ended, removed): no more reconnection. */
  close() {
    this.closed = true;
    this.socket.disconnect();
  }
}

/** The café's media moved to another process: the page, loaded again, names its node.
 *  At most once a minute, so a proxy that ignores `?node=` cannot loop the page. */
function reloadOnce() {
  const key = "causerie.media-reload";
  const last = Number(sessionStorage.getItem(key) || 0);
  if (Date.now() - last < 60000) return;
  sessionStorage.setItem(key, String(Date.now()));
  window.location.reload();
}
