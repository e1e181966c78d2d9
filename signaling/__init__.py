"""The realtime edge: the socket.io namespace (`protocol.md`), its typed messages, presence
shared between processes, and the WebRTC media plane (`signaling.media`).

The app mounts it with `signaling.setup.setup_signaling`. Nothing is imported here, so
that `signaling.settings` (a section of the server's config) loads without socket.io or
aiortc.
"""
