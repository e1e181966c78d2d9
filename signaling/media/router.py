"""`MediaRouter`: the WebRTC media plane of one server process.

Each café is a `_Room` with a fixed set of outgoing slots: one video slot (the expert's
camera) and ``1 + stage_max`` audio slots (the expert and the parents on stage). A
publisher's connection is received and decoded by aiortc; its video is encoded **once**
(VP8, in a worker thread) and its audio once (Opus), and the packets go to every subscriber
through the slot it occupies (see `signaling.media.fanout`). A subscriber's connection is
offered by the server with one sender per slot, so people going on or off stage only change
which source feeds a slot: no renegotiation.

Who may publish is decided by the caller (the permission table); the router enforces the
shape of what is published (size, syntax, number and kinds of tracks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.codecs import CODECS, HEADER_EXTENSIONS
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from av import AudioFrame, VideoFrame

from sessions.commands import (
    BanAddress,
    DisconnectMedia,
    DisconnectParticipant,
    MediaCommand,
    SetMuted,
    StopPublication,
)

from .aiortc_hooks import negotiated_codecs, set_sender_ssrc
from .backlog import VIDEO_BACKLOG, FrameBacklog
from .errors import InvalidSdp, MediaClosed, NoSuchPeer, SlotsFull
from .fanout import Slot
from .ice import build_configuration, offered_host_addresses, validate_host_addresses
from .sdp import check_answer, check_offer
from .sender_link import IdleTrack, attach_sender
from .stats import MediaStats
from .taps import AudioChunk, AudioTap, AudioTapCallback

logger = logging.getLogger("causerie.media")

__all__ = ["MediaRouter"]

DEFAULT_VIDEO_BITRATE = 800_000
DEFAULT_AUDIO_BITRATE = 48_000
REPORT_INTERVAL = 1.0


def _codec(kind: str, mime: str) -> tuple[int, int]:
    for codec in CODECS[kind]:
        if codec.mimeType.lower() == mime and codec.payloadType is not None:
            return codec.payloadType, codec.clockRate
    raise RuntimeError(f"aiortc has no {mime} codec")  # pragma: no cover


def _is_vp8_keyframe(payloads: list[bytes]) -> bool:
    descriptor, data = VpxPayloadDescriptor.parse(payloads[0])
    return bool(descriptor.partition_start) and bool(data) and not data[0] & 1


@dataclass(eq=False)
class _Publisher:
    participant_id: int
    speaker: str
    pc: RTCPeerConnection
    audio_slot: Slot | None = None
    video_slot: Slot | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass(eq=False)
class _Subscriber:
    participant_id: int
    pc: RTCPeerConnection
    transceivers: list[RTCRtpTransceiver]
    answered: bool = False


class _Room:
    def __init__(self, cafe_id: int, audio_slots: int, stats: MediaStats) -> None:
        self.cafe_id = cafe_id
        vp8_pt, vp8_clock = _codec("video", "video/vp8")
        opus_pt, opus_clock = _codec("audio", "audio/opus")
        self.video = Slot(
            "video",
            index=0,
            mid="0",
            payload_type=vp8_pt,
            clock_rate=vp8_clock,
            send_parameters=RTCRtpSendParameters(headerExtensions=HEADER_EXTENSIONS["video"]),
            stats=stats,
        )
        self.audio = [
            Slot(
                "audio",
                index=i,
                mid=str(1 + i),
                payload_type=opus_pt,
                clock_rate=opus_clock,
                send_parameters=RTCRtpSendParameters(
                    headerExtensions=HEADER_EXTENSIONS["audio"]
                ),
                stats=stats,
            )
            for i in range(audio_slots)
        ]
        self.slots = [self.video, *self.audio]
        self.publishers: dict[int, _Publisher] = {}
        self.subscribers: dict[int, _Subscriber] = {}
        self.muted: set[int] = set()
        self.taps: list[AudioTapCallback] = []
        self.lock = asyncio.Lock()
        self.reporter: asyncio.Task[None] | None = None


class MediaRouter:
    """The media plane of one process: rooms keyed by café id, one per live café.

    ``host_addresses`` are the addresses offered in ICE candidates (empty: every interface
    but loopback, as aioice chooses); ``stun_urls``/``turn_*`` build the explicit ICE server
    list (never a public default). ``sdp_max_bytes`` bounds every SDP received;
    ``max_tracks_per_publisher`` the media sections of a publisher's offer; ``stage_max`` the
    parents on stage at once (audio slots are ``1 + stage_max``); ``video_backlog`` the
    decoded frames of a publisher that may wait for its encoder (older ones are dropped and
    counted in ``stats.video_frames_dropped``).
    """

    def __init__(
        self,
        *,
        host_addresses: Sequence[str] = (),
        stun_urls: Sequence[str] = (),
        turn_urls: Sequence[str] = (),
        turn_username: str = "",
        turn_credential: str = "",
        sdp_max_bytes: int = 20_000,
        max_tracks_per_publisher: int = 2,
        stage_max: int = 2,
        video_bitrate: int = DEFAULT_VIDEO_BITRATE,
        audio_bitrate: int = DEFAULT_AUDIO_BITRATE,
        video_backlog: int = VIDEO_BACKLOG,
    ) -> None:
        self.host_addresses = validate_host_addresses(host_addresses)
        self._stun_urls = tuple(stun_urls)
        self._turn_urls = tuple(turn_urls)
        self._turn_username = turn_username
        self._turn_credential = turn_credential
        self.sdp_max_bytes = sdp_max_bytes
        self.max_tracks_per_publisher = max_tracks_per_publisher
        self.audio_slots = 1 + stage_max
        self.video_bitrate = video_bitrate
        self.audio_bitrate = audio_bitrate
        if video_backlog < 1:
            raise ValueError("video_backlog must be >= 1")
        self.video_backlog = video_backlog
        self.stats = MediaStats()
        self._rooms: dict[int, _Room] = {}
        self._closed = False
        self._background: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="causerie-media")

    # -- observability ------------------------------------------------------------------

    def cafe_ids(self) -> list[int]:
        """Cafés with media state in this process."""
        return list(self._rooms)

    def subscriber_count(self, cafe_id: int | None = None) -> int:
        """Subscribers (one café, or all)."""
        rooms = self._select(cafe_id)
        return sum(len(r.subscribers) for r in rooms)

    def publisher_count(self, cafe_id: int | None = None) -> int:
        """Publishers (one café, or all)."""
        rooms = self._select(cafe_id)
        return sum(len(r.publishers) for r in rooms)

    def slot_sources(self, cafe_id: int) -> dict[str, int | None]:
        """Which participant feeds each slot (``video``, ``audio0``...), for the clients."""
        room = self._rooms.get(cafe_id)
        if room is None:
            return {}
        result: dict[str, int | None] = {"video": room.video.source}
        for slot in room.audio:
            result[f"audio{slot.index}"] = slot.source
        return result

    def _select(self, cafe_id: int | None) -> list[_Room]:
        if cafe_id is None:
            return list(self._rooms.values())
        room = self._rooms.get(cafe_id)
        return [room] if room else []

    # -- internals ----------------------------------------------------------------------

    def _new_pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(
            build_configuration(
                self._stun_urls, self._turn_urls, self._turn_username, self._turn_credential
            )
        )

    def _room(self, cafe_id: int) -> _Room:
        if self._closed:
            raise MediaClosed()
        room = self._rooms.get(cafe_id)
        if room is None:
            room = _Room(cafe_id, self.audio_slots, self.stats)
            room.reporter = asyncio.create_task(self._report(room))
            self._rooms[cafe_id] = room
        return room

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _report(self, room: _Room) -> None:
        """Feed RTCP sender reports of every subscriber with the shared streams' figures."""
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            for slot in room.slots:
                for output in slot.outputs.values():
                    output.update_sender_report()

    # -- publishing ---------------------------------------------------------------------

    async def publish(
        self, cafe_id: int, participant_id: int, offer_sdp: str, *, allow_video: bool,
        muted: bool = False, speaker: str = "",
    ) -> str:
        """Receive a participant's audio (and video if ``allow_video``); return the answer.

        ``muted`` is the stored moderator mute: applied before the first frame, it replaces
        what this process remembered (which a restart forgets). ``speaker`` is the name
        the audio taps receive with each frame.

        The offer must carry at most ``max_tracks_per_publisher`` sections, one audio and
        one video at most. A participant publishing again replaces its previous connection.
        The answer SDP is complete (candidates gathered; aiortc does not trickle).

        Raises `SdpTooLarge`, `InvalidSdp`, `TooManyTracks`, `VideoNotAllowed` (before any
        state changes), `SlotsFull` when no audio slot (or the video slot) is free,
        `MediaClosed` after `close()`.
        """
        shape = check_offer(
            offer_sdp,
            limit=self.sdp_max_bytes,
            max_tracks=self.max_tracks_per_publisher,
            allow_video=allow_video,
        )
        if not shape.audio and not shape.video:
            raise InvalidSdp()
        room = self._room(cafe_id)
        async with room.lock:
            previous = room.publishers.get(participant_id)
            audio_slot = previous.audio_slot if previous else None
            video_slot = previous.video_slot if previous else None
            if shape.audio and audio_slot is None:
                audio_slot = next((s for s in room.audio if s.source is None), None)
                if audio_slot is None:
                    raise SlotsFull()
            if shape.video and video_slot is None:
                if room.video.source is not None:
                    raise SlotsFull()
                video_slot = room.video
            if previous is not None:
                await self._unpublish_locked(room, participant_id)
            if muted:
                room.muted.add(participant_id)
            else:
                room.muted.discard(participant_id)

            pc = self._new_pc()
            tracks: list[MediaStreamTrack] = []
            pc.on("track", tracks.append)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
                answer = await pc.createAnswer()
                with offered_host_addresses(self.host_addresses):
                    await pc.setLocalDescription(answer)
            except Exception as exc:
                await pc.close()
                logger.info(
                    "publish refused cafe=%s participant=%s: %s", cafe_id, participant_id, exc
                )
                raise InvalidSdp() from exc

            publisher = _Publisher(participant_id, speaker, pc)
            for track in tracks:
                if track.kind == "audio" and shape.audio and audio_slot is not None:
                    publisher.audio_slot = audio_slot
                    audio_slot.source = participant_id
                    publisher.tasks.append(
                        asyncio.create_task(self._pump_audio(room, publisher, track, audio_slot))
                    )
                elif track.kind == "video" and shape.video and video_slot is not None:
                    publisher.video_slot = video_slot
                    video_slot.source = participant_id
                    publisher.tasks.append(
                        asyncio.create_task(self._pump_video(publisher, track, video_slot))
                    )
            room.publishers[participant_id] = publisher

            @pc.on("connectionstatechange")
            def _state_changed() -> None:
                if pc.connectionState in ("failed", "closed"):
                    self._spawn(self._drop_publisher(room, publisher))

            logger.info(
                "publish cafe=%s participant=%s audio=%s video=%s",
                cafe_id,
                participant_id,
                publisher.audio_slot is not None,
                publisher.video_slot is not None,
            )
            assert pc.localDescription is not None
            return pc.localDescription.sdp

    async def _drop_publisher(self, room: _Room, publisher: _Publisher) -> None:
        async with room.lock:
            if room.publishers.get(publisher.participant_id) is publisher:
                logger.info(
                    "publisher connection lost cafe=%s participant=%s",
                    room.cafe_id,
                    publisher.participant_id,
                )
                await self._unpublish_locked(room, publisher.participant_id)

    async def _pump_video(
        self, publisher: _Publisher, track: MediaStreamTrack, slot: Slot
    ) -> None:
        """Decoded frames -> a bounded backlog -> one VP8 encode -> the slot's subscribers.

        Receiving runs in its own task, so frames that arrive while the encoder works wait
        in a `FrameBacklog` of ``video_backlog`` frames (older ones are dropped) and never
        pile up in aiortc's unbounded track queue.
        """
        loop = asyncio.get_running_loop()
        encoder = Vp8Encoder()
        encoder.target_bitrate = self.video_bitrate
        pid = publisher.participant_id
        stats = self.stats
        backlog: FrameBacklog[VideoFrame] = FrameBacklog(self.video_backlog, stats)

        async def receive() -> None:
            try:
                while True:
                    frame = await track.recv()
                    if not isinstance(frame, VideoFrame):
                        continue
                    stats.video_frames_received += 1
                    if slot.outputs:
                        backlog.put(frame)
            except MediaStreamError:
                pass
            finally:
                backlog.end()

        receiver = asyncio.create_task(receive())
        try:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await backlog.get()
                    if not slot.outputs:
                        continue
                    force = slot.take_keyframe_request()
                    payloads, timestamp = await loop.run_in_executor(
                        self._executor, self._encode_video, encoder, frame, force
                    )
                    if payloads:
                        slot.forward(
                            payloads, pid, timestamp, keyframe=_is_vp8_keyframe(payloads)
                        )
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver

    @staticmethod
    def _encode_video(
        encoder: Vp8Encoder, frame: VideoFrame, force_keyframe: bool
    ) -> tuple[list[bytes], int]:
        """One VP8 encode, in the executor (a seam for tests that slow the encoder down)."""
        return encoder.encode(frame, force_keyframe)

    async def _pump_audio(
        self, room: _Room, publisher: _Publisher, track: MediaStreamTrack, slot: Slot
    ) -> None:
        """Decoded frames -> taps, and one Opus encode -> the slot's subscribers."""
        encoder = OpusEncoder()
        encoder.codec.bit_rate = self.audio_bitrate
        pid = publisher.participant_id
        stats = self.stats
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                stats.audio_frames_received += 1
                if pid in room.muted:
                    stats.audio_frames_muted += 1
                    continue
                if room.taps:
                    chunk = AudioChunk(room.cafe_id, pid, time.monotonic(), frame,
                                       publisher.speaker)
                    for tap in list(room.taps):
                        try:
                            tap(chunk)
                        except Exception:
                            logger.exception(
                                "audio tap failed cafe=%s participant=%s", room.cafe_id, pid
                            )
                    stats.tap_chunks += 1
                if not slot.outputs:
                    continue
                payloads, timestamp = encoder.encode(frame)
                if payloads:
                    slot.forward(payloads, pid, timestamp, keyframe=True)

    async def unpublish(self, cafe_id: int, participant_id: int) -> bool:
        """Stop receiving a participant's media and free its slots; False if there was
        no publication here."""
        room = self._rooms.get(cafe_id)
        if room is None:
            return False
        async with room.lock:
            return await self._unpublish_locked(room, participant_id)

    async def _unpublish_locked(self, room: _Room, participant_id: int) -> bool:
        publisher = room.publishers.pop(participant_id, None)
        if publisher is None:
            return False
        for task in publisher.tasks:
            task.cancel()
        await asyncio.gather(*publisher.tasks, return_exceptions=True)
        for slot in (publisher.audio_slot, publisher.video_slot):
            if slot is not None and slot.source == participant_id:
                slot.reset_source()
        await publisher.pc.close()
        logger.info("unpublish cafe=%s participant=%s", room.cafe_id, participant_id)
        return True

    def mute(self, cafe_id: int, participant_id: int, muted: bool) -> None:
        """Moderator mute: a muted participant's audio is neither forwarded nor tapped.

        The state is kept for the café (it holds across a new publication).
        """
        room = self._room(cafe_id)
        if muted:
            room.muted.add(participant_id)
        else:
            room.muted.discard(participant_id)
        logger.info("mute cafe=%s participant=%s muted=%s", cafe_id, participant_id, muted)

    # -- subscribing --------------------------------------------------------------------

    async def subscribe(self, cafe_id: int, participant_id: int) -> str:
        """Start a subscription; return the server's OFFER (complete SDP).

        The offer has one video section (VP8) and ``1 + stage_max`` audio sections (Opus),
        all ``sendonly``, in slot order (`slot_sources` tells which participant feeds
        which). Answer with `accept_answer`. Subscribing again replaces the subscription.
        """
        room = self._room(cafe_id)
        async with room.lock:
            if participant_id in room.subscribers:
                await self._unsubscribe_locked(room, participant_id)
            pc = self._new_pc()
            transceivers = []
            for slot in room.slots:
                transceiver = pc.addTransceiver(IdleTrack(slot.kind), direction="sendonly")
                wanted = "video/vp8" if slot.kind == "video" else "audio/opus"
                transceiver.setCodecPreferences(
                    [
                        c
                        for c in RTCRtpSender.getCapabilities(slot.kind).codecs
                        if c.mimeType.lower() == wanted
                    ]
                )
                set_sender_ssrc(transceiver.sender, slot.ssrc)
                transceivers.append(transceiver)
            offer = await pc.createOffer()
            with offered_host_addresses(self.host_addresses):
                await pc.setLocalDescription(offer)
            for transceiver, slot in zip(transceivers, room.slots, strict=True):
                if transceiver.mid != slot.mid:  # pragma: no cover - aiortc allocates 0, 1...
                    await pc.close()
                    raise RuntimeError(f"unexpected mid {transceiver.mid} for {slot.mid}")
            room.subscribers[participant_id] = _Subscriber(participant_id, pc, transceivers)
            logger.info("subscribe cafe=%s participant=%s", cafe_id, participant_id)
            assert pc.localDescription is not None
            return pc.localDescription.sdp

    async def accept_answer(self, cafe_id: int, participant_id: int, answer_sdp: str) -> None:
        """Apply a subscriber's answer; media flows once ICE and DTLS are up.

        Raises `NoSuchPeer` without a pending `subscribe`, `SdpTooLarge` / `InvalidSdp`
        for a bad answer (the subscription is then dropped: subscribe again).
        """
        room = self._rooms.get(cafe_id)
        subscriber = room.subscribers.get(participant_id) if room else None
        if room is None or subscriber is None or subscriber.answered:
            raise NoSuchPeer()
        check_answer(answer_sdp, limit=self.sdp_max_bytes, sections=len(room.slots))
        async with room.lock:
            if room.subscribers.get(participant_id) is not subscriber or subscriber.answered:
                raise NoSuchPeer()
            pc = subscriber.pc
            try:
                await pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
            except Exception as exc:
                logger.info(
                    "answer refused cafe=%s participant=%s: %s", cafe_id, participant_id, exc
                )
                await self._unsubscribe_locked(room, participant_id)
                raise InvalidSdp() from exc
            subscriber.answered = True
            for transceiver, slot in zip(subscriber.transceivers, room.slots, strict=True):
                codecs = negotiated_codecs(transceiver)
                if (
                    transceiver.currentDirection not in ("sendonly", "sendrecv")
                    or not codecs
                    or codecs[0].payloadType != slot.payload_type
                ):
                    continue  # the browser rejected this section
                attach_sender(slot, participant_id, transceiver.sender)

            @pc.on("connectionstatechange")
            def _state_changed() -> None:
                if pc.connectionState in ("failed", "closed"):
                    self._spawn(self._drop_subscriber(room, subscriber))

    async def _drop_subscriber(self, room: _Room, subscriber: _Subscriber) -> None:
        async with room.lock:
            if room.subscribers.get(subscriber.participant_id) is subscriber:
                logger.info(
                    "subscriber connection lost cafe=%s participant=%s",
                    room.cafe_id,
                    subscriber.participant_id,
                )
                await self._unsubscribe_locked(room, subscriber.participant_id)

    async def unsubscribe(self, cafe_id: int, participant_id: int) -> None:
        """Close a participant's subscription (no error if none)."""
        room = self._rooms.get(cafe_id)
        if room is None:
            return
        async with room.lock:
            await self._unsubscribe_locked(room, participant_id)

    async def _unsubscribe_locked(self, room: _Room, participant_id: int) -> None:
        subscriber = room.subscribers.pop(participant_id, None)
        if subscriber is None:
            return
        for slot in room.slots:
            slot.detach(participant_id)
        await subscriber.pc.close()
        logger.info("unsubscribe cafe=%s participant=%s", room.cafe_id, participant_id)

    async def leave(self, cafe_id: int, participant_id: int) -> bool:
        """A participant left: close its publication and its subscription; False if it
        had neither here."""
        room = self._rooms.get(cafe_id)
        if room is None:
            return False
        async with room.lock:
            published = await self._unpublish_locked(room, participant_id)
            subscribed = participant_id in room.subscribers
            await self._unsubscribe_locked(room, participant_id)
            return published or subscribed

    # -- commands -----------------------------------------------------------------------

    async def carry_out(self, command: MediaCommand) -> bool:
        """Apply a service's media command to what this process holds; True when it held
        the participant's publication (or, for a mute, the café's media)."""
        cafe_id, participant_id = command.cafe_id, command.participant_id
        match command:
            case StopPublication():
                return await self.unpublish(cafe_id, participant_id)
            case SetMuted(muted=muted):
                if cafe_id not in self._rooms:
                    return False  # publishing applies the stored mute (`publish(muted=)`)
                self.mute(cafe_id, participant_id, muted)
                return True
            case DisconnectMedia() | DisconnectParticipant():
                return await self.leave(cafe_id, participant_id)
            case BanAddress():
                return False  # not a media effect: the hub records the ban

    # -- taps ---------------------------------------------------------------------------

    def add_audio_tap(self, cafe_id: int, callback: AudioTapCallback) -> Callable[[], None]:
        """Call ``callback`` with every (unmuted) decoded audio frame of the café.

        Returns a function that removes the tap. The callback runs on the event loop:
        it must not block (see `AudioTap` for a queue).
        """
        room = self._room(cafe_id)
        room.taps.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                room.taps.remove(callback)

        return remove

    def open_audio_tap(self, cafe_id: int, max_chunks: int = 500) -> AudioTap:
        """An `AudioTap` (``async for chunk in tap``) on the café; `AudioTap.close` ends it."""
        tap = AudioTap(max_chunks)
        tap.remove = self.add_audio_tap(cafe_id, tap)
        return tap

    # -- lifetime -----------------------------------------------------------------------

    async def close_cafe(self, cafe_id: int) -> None:
        """End of the café: close every connection, end the taps, forget the room."""
        room = self._rooms.pop(cafe_id, None)
        if room is None:
            return
        async with room.lock:
            if room.reporter is not None:
                room.reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await room.reporter
            for participant_id in list(room.publishers):
                await self._unpublish_locked(room, participant_id)
            await asyncio.gather(
                *(self._unsubscribe_locked(room, pid) for pid in list(room.subscribers))
            )
            for tap in list(room.taps):
                if isinstance(tap, AudioTap):
                    tap.close()
            room.taps.clear()
        logger.info("close cafe=%s", cafe_id)

    async def close(self) -> None:
        """Process shutdown: close every café; later calls raise `MediaClosed`."""
        self._closed = True
        for cafe_id in list(self._rooms):
            await self.close_cafe(cafe_id)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
