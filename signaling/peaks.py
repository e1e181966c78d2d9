"""`PeakRecorder`: the shell around `sessions.attendance.PeakLedger` that writes a café's
peak of parents present at once to the database while it is live.

The presence store keeps the running maximum (one number per café, shared by every process
on Redis) and returns it with each arrival (`Hub.attach`); `seen` hands it to the ledger,
which answers with a peak to write now or later: a write starts at once, or a timer is
armed for when it falls due. So a join storm costs a write per `step` parents and per
`interval` seconds, not one per join. At the café's end, `final` writes the store's
maximum (which covers what every process saw, a crashed one's too); at shutdown, `close`
writes what is pending. Every write only ever raises the stored peak
(`AssociationService.record_peak`), so processes need not agree on who writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sessions.attendance import PeakLedger, PeakPolicy

log = logging.getLogger("causerie.signaling")

# (cafe_id, peak, final) -> stored; final: the café's end (no longer live by then)
WritePeak = Callable[[int, int, bool], Awaitable[object]]


class PeakRecorder:
    def __init__(self, write: WritePeak, policy: PeakPolicy | None = None) -> None:
        self._write = write
        self.ledger = PeakLedger(policy)
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._writes: dict[int, asyncio.Task[None]] = {}
        self.writes = 0  # writes started (tests and the join-storm bench read it)

    @property
    def policy(self) -> PeakPolicy:
        return self.ledger.policy

    @policy.setter
    def policy(self, policy: PeakPolicy) -> None:
        self.ledger.policy = policy

    def seen(self, cafe_id: int, peak: int) -> None:
        """The presence store reported the café's running maximum (after an arrival)."""
        due = self.ledger.seen(cafe_id, peak, self._now())
        if due is not None:
            self._start(cafe_id, due)
        else:
            self._arm(cafe_id)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _arm(self, cafe_id: int) -> None:
        at = self.ledger.due_at(cafe_id)
        if at is None or cafe_id in self._timers:
            return
        loop = asyncio.get_running_loop()
        self._timers[cafe_id] = loop.call_at(max(at, loop.time()), self._fire, cafe_id)

    def _fire(self, cafe_id: int) -> None:
        self._timers.pop(cafe_id, None)
        due = self.ledger.due(cafe_id, self._now())
        if due is not None:
            self._start(cafe_id, due)
        else:
            self._arm(cafe_id)

    def _start(self, cafe_id: int, peak: int) -> None:
        self.writes += 1
        self._writes[cafe_id] = asyncio.ensure_future(self._run(cafe_id, peak))

    async def _run(self, cafe_id: int, peak: int) -> None:
        ok = False
        try:
            await self._write(cafe_id, peak, False)
            ok = True
        except Exception as exc:  # the database away: due again after an interval
            log.warning("attendance peak not written cafe=%s peak=%s: %s", cafe_id, peak,
                        type(exc).__name__)
        finally:
            self._writes.pop(cafe_id, None)
            self.ledger.written(cafe_id, peak, ok=ok)
        self._arm(cafe_id)

    async def final(self, cafe_id: int, store_peak: int) -> None:
        """The café ended: write the highest of the store's maximum and what this process
        saw, then forget the café (raises if the database refuses: the caller logs it)."""
        self._cancel(cafe_id)
        peak = max(store_peak, self.ledger.highest(cafe_id))
        self.ledger.forget(cafe_id)
        self.writes += 1
        await self._write(cafe_id, peak, True)

    def forget(self, cafe_id: int) -> None:
        """The café's rooms closed here (it ended on some process, which wrote its peak)."""
        self._cancel(cafe_id)
        self.ledger.forget(cafe_id)

    def _cancel(self, cafe_id: int) -> None:
        timer = self._timers.pop(cafe_id, None)
        if timer is not None:
            timer.cancel()

    async def close(self) -> None:
        """Shutdown: the writes in flight finish, then each café's unwritten peak is
        written (a clean restart loses nothing)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._writes:
            await asyncio.gather(*list(self._writes.values()), return_exceptions=True)
        for cafe_id, peak in sorted(self.ledger.unwritten().items()):
            with contextlib.suppress(Exception):
                await self._write(cafe_id, peak, False)
                self.ledger.written(cafe_id, peak, ok=True)
