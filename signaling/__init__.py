"""The realtime edge: the socket.io namespace (`protocol.md`), its typed messages, presence
shared between processes, and the WebRTC media plane (`signaling.media`)."""

from signaling.setup import setup_signaling

__all__ = ["setup_signaling"]
