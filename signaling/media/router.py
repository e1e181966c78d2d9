"""`MediaRouter`: the WebRTC media plane of one server process.

Each café is a `room.Room` with a fixed set of outgoing slots: one video slot (the expert's
camera) and ``1 + stage_max`` audio slots (the expert and the parents on stage). A
publisher's connection is received and decoded by aiortc; its video is encoded **once**
(VP8, in a worker thread) and its audio once (Opus), and the packets go to every subscriber
through the slot it occupies (`pumps` for the loops, `fanout` for the slot). A subscriber's
connection is offered by the server with one sender per slot (`negotiation`), so people
going on or off stage only change which source feeds a slot: no renegotiation.

Who may publish is decided by the caller (the permission table); the router enforces the
shape of what is published (size, syntax, number and kinds of tracks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiortc import RTCPeerConnection

from sessions.commands import (
    BanAddress,
    DisconnectMedia,
    DisconnectParticipant,
    MediaCommand,
    SetMuted,
    StopPublication,
)
from signaling.settings import IceSettings

from .backlog import VIDEO_BACKLOG
from .errors import InvalidSdp, MediaClosed, NoSuchPeer
from .ice import build_configuration
from .negotiation import accepted_senders, answer_offer, apply_answer, claim_slots, offer_slots
from .pumps import pump_audio, pump_video
from .room import Publisher, Room, Subscriber, report_loop
from .sdp import check_answer, check_offer
from .sender_link import attach_sender
from .stats import MediaStats
from .taps import AudioTap, AudioTapCallback, VideoTapCallback

logger = logging.getLogger("causerie.media")

__all__ = ["MediaRouter"]

DEFAULT_VIDEO_BITRATE = 800_000
DEFAULT_AUDIO_BITRATE = 48_000


class MediaRouter:
    """The media plane of one process: rooms keyed by café id, one per live café.

    ``ice``: the addresses offered in ICE candidates (empty: every interface but loopback,
    as aioice chooses) and the explicit STUN/TURN servers (never a public default).
    ``sdp_max_bytes`` bounds every SDP received;
    ``max_tracks_per_publisher`` the media sections of a publisher's offer; ``stage_max`` the
    parents on stage at once (audio slots are ``1 + stage_max``); ``video_backlog`` the
    decoded frames of a publisher that may wait for its encoder (older ones are dropped and
    counted in ``stats.video_frames_dropped``).
    """

    def __init__(
        self,
        *,
        ice: IceSettings | None = None,
        sdp_max_bytes: int = 20_000,
        max_tracks_per_publisher: int = 2,
        stage_max: int = 2,
        video_bitrate: int = DEFAULT_VIDEO_BITRATE,
        audio_bitrate: int = DEFAULT_AUDIO_BITRATE,
        video_backlog: int = VIDEO_BACKLOG,
    ) -> None:
        self.ice = ice or IceSettings()
        self.host_addresses = self.ice.host_addresses
        self.sdp_max_bytes = sdp_max_bytes
        self.max_tracks_per_publisher = max_tracks_per_publisher
        self.audio_slots = 1 + stage_max
        self.video_bitrate = video_bitrate
        self.audio_bitrate = audio_bitrate
        if video_backlog < 1:
            raise ValueError("video_backlog must be >= 1")
        self.video_backlog = video_backlog
        self.stats = MediaStats()
        self._rooms: dict[int, Room] = {}
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

    def _select(self, cafe_id: int | None) -> list[Room]:
        if cafe_id is None:
            return list(self._rooms.values())
        room = self._rooms.get(cafe_id)
        return [room] if room else []

    # -- internals ----------------------------------------------------------------------

    def _new_pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(build_configuration(self.ice))

    def _room(self, cafe_id: int) -> Room:
        if self._closed:
            raise MediaClosed()
        room = self._rooms.get(cafe_id)
        if room is None:
            room = Room(cafe_id, self.audio_slots, self.stats)
            room.reporter = asyncio.create_task(report_loop(room))
            self._rooms[cafe_id] = room
        return room

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
            audio_slot, video_slot = claim_slots(room, previous, shape)
            if previous is not None:
                await self._unpublish_locked(room, participant_id)
            if muted:
                room.muted.add(participant_id)
            else:
                room.muted.discard(participant_id)

            pc = self._new_pc()
            tracks = await answer_offer(
                pc, offer_sdp, self.host_addresses,
                log=f"cafe={cafe_id} participant={participant_id}",
            )

            publisher = Publisher(participant_id, speaker, pc)
            for track in tracks:
                if track.kind == "audio" and shape.audio and audio_slot is not None:
                    publisher.audio_slot = audio_slot
                    audio_slot.source = participant_id
                    publisher.tasks.append(
                        asyncio.create_task(
                            pump_audio(
                                room, publisher, track, audio_slot,
                                stats=self.stats, bitrate=self.audio_bitrate,
                            )
                        )
                    )
                elif track.kind == "video" and shape.video and video_slot is not None:
                    publisher.video_slot = video_slot
                    video_slot.source = participant_id
                    publisher.tasks.append(
                        asyncio.create_task(
                            pump_video(
                                room, publisher, track, video_slot,
                                stats=self.stats, executor=self._executor,
                                bitrate=self.video_bitrate, backlog_size=self.video_backlog,
                            )
                        )
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

    async def _drop_publisher(self, room: Room, publisher: Publisher) -> None:
        async with room.lock:
            if room.publishers.get(publisher.participant_id) is publisher:
                logger.info(
                    "publisher connection lost cafe=%s participant=%s",
                    room.cafe_id,
                    publisher.participant_id,
                )
                await self._unpublish_locked(room, publisher.participant_id)

    async def unpublish(self, cafe_id: int, participant_id: int) -> bool:
        """Stop receiving a participant's media and free its slots; False if there was
        no publication here."""
        room = self._rooms.get(cafe_id)
        if room is None:
            return False
        async with room.lock:
            return await self._unpublish_locked(room, participant_id)

    async def _unpublish_locked(self, room: Room, participant_id: int) -> bool:
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
            transceivers = await offer_slots(pc, room.slots, self.host_addresses)
            room.subscribers[participant_id] = Subscriber(participant_id, pc, transceivers)
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
                await apply_answer(
                    pc, answer_sdp, log=f"cafe={cafe_id} participant={participant_id}"
                )
            except InvalidSdp:
                await self._unsubscribe_locked(room, participant_id)
                raise
            subscriber.answered = True
            for slot, sender in accepted_senders(subscriber.transceivers, room.slots):
                attach_sender(slot, participant_id, sender)

            @pc.on("connectionstatechange")
            def _state_changed() -> None:
                if pc.connectionState in ("failed", "closed"):
                    self._spawn(self._drop_subscriber(room, subscriber))

    async def _drop_subscriber(self, room: Room, subscriber: Subscriber) -> None:
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

    async def _unsubscribe_locked(self, room: Room, participant_id: int) -> None:
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

    def add_video_tap(self, cafe_id: int, callback: VideoTapCallback) -> Callable[[], None]:
        """Call ``callback`` with every decoded picture of the café's camera (the video
        slot's publisher), whether or not anyone subscribes. Returns the remover; the
        callback runs on the event loop and must not block."""
        room = self._room(cafe_id)
        room.video_taps.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                room.video_taps.remove(callback)

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
            room.video_taps.clear()
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
