"""The peak of parents present at once in a live café (an association's attendance figure,
issue 12): who counts, and when the peak is written. Pure: no I/O, no clock reads.

Who counts: a parent (`participant` or `viewer` role) who joined as one, once however many
tabs their browser has open (presence is per participant, and a participant is a browser in
a café). Staff (organisers, experts, moderators) and the recorder do not count, nor does an
expert or moderator whose invitation was revoked or expired while connected (they stay as a
parent there, but came as staff). An organiser whose login ended stays counted: their stored
role became a parent's, as in "parents who joined". Nothing is kept per person: the presence
backend keeps a running maximum per café (shared by every process), and the database one
number per café.

When it is written (`PeakLedger`): the shell tells the ledger each running maximum the
backend reported, with the time; the ledger answers with the peak to write now, if any.
A write goes out when the peak grew by `step` since the last one written, or grew at all
and `interval` seconds passed since the last write (so the first parent is written at
once). A join storm of 2,000 parents costs about 2,000 / step + its length / interval
writes, never one per join; a crash loses at most `step - 1` parents of growth or
`interval` seconds of it (and none when another process, or the café's end, writes the
backend's maximum). One write per café is in flight at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions.roles import Role

PARENT_ROLES: frozenset[Role] = frozenset({Role.PARTICIPANT, Role.VIEWER})


@dataclass(frozen=True, slots=True)
class PeakPolicy:
    step: int = 100
    interval: float = 5.0

    def __post_init__(self) -> None:
        if self.step < 1 or self.interval <= 0:
            raise ValueError("a peak policy needs step >= 1 and interval > 0")


@dataclass(slots=True)
class _CafePeak:
    seen: int = 0  # the highest running maximum reported
    stored: int = 0  # the highest written (confirmed)
    writing: int | None = None  # the write in flight
    last_write: float | None = None  # when the last write started
    failed: bool = False  # the last write failed: the next waits for the interval


class PeakLedger:
    def __init__(self, policy: PeakPolicy | None = None) -> None:
        self.policy = policy or PeakPolicy()
        self._cafes: dict[int, _CafePeak] = {}

    def seen(self, cafe_id: int, peak: int, now: float) -> int | None:
        """The backend's running maximum for the café is `peak`: the peak to write now (the
        shell then calls `written`), or None."""
        state = self._cafes.setdefault(cafe_id, _CafePeak())
        state.seen = max(state.seen, peak)
        return self.due(cafe_id, now)

    def due(self, cafe_id: int, now: float) -> int | None:
        """The peak to write now (its write starts), or None (nothing new, a write in flight,
        or not yet: see `due_at`)."""
        state = self._cafes.get(cafe_id)
        if state is None or state.writing is not None or state.seen <= state.stored:
            return None
        grown = state.seen - state.stored >= self.policy.step and not state.failed
        waited = (state.last_write is None
                  or now - state.last_write >= self.policy.interval)
        if not (grown or waited):
            return None
        state.writing, state.last_write = state.seen, now
        return state.seen

    def due_at(self, cafe_id: int) -> float | None:
        """When the peak not written yet falls due, or None (nothing waits, or a write is
        in flight: `written` says when it is over)."""
        state = self._cafes.get(cafe_id)
        if state is None or state.writing is not None or state.seen <= state.stored:
            return None
        return (state.last_write or 0.0) + self.policy.interval

    def written(self, cafe_id: int, peak: int, *, ok: bool) -> None:
        """The write of `peak` is over (`ok`: it was stored). After a failed one the next
        is due an interval after it started, however much the peak grows meanwhile."""
        state = self._cafes.get(cafe_id)
        if state is None:
            return
        if state.writing == peak:
            state.writing = None
        state.failed = not ok
        if ok:
            state.stored = max(state.stored, peak)

    def highest(self, cafe_id: int) -> int:
        """The highest running maximum reported for the café (0: none)."""
        state = self._cafes.get(cafe_id)
        return 0 if state is None else state.seen

    def unwritten(self) -> dict[int, int]:
        """The cafés whose highest peak is not stored yet, and that peak (at shutdown)."""
        return {cafe_id: s.seen for cafe_id, s in self._cafes.items() if s.seen > s.stored}

    def forget(self, cafe_id: int) -> None:
        """The café ended (its final peak is written by whoever ended it)."""
        self._cafes.pop(cafe_id, None)
