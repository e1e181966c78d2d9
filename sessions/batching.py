"""`Batcher`: many concurrent callers, one round of work for all those waiting.

A burst (the start of a popular café: thousands of joins within seconds) would otherwise
cost one database transaction per caller, each paying its own round trips, commit and,
on SQLite, its turn at the single write lock. Here each caller `submit`s its item and
awaits its own result; one task takes every item waiting, hands them to `process` at once
(one transaction for all of them), and resolves each caller's future with its own result
or its own exception. A lone caller is served at once (its batch has one item); items
that arrive while a batch is being processed form the next one, so a batch never starts
before its items were submitted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("causerie.batching")

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, process: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
                 *, max_batch: int = 200, name: str = "batch") -> None:
        self._process = process
        self.max_batch = max_batch
        self.name = name
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        # batches run and items processed, for tests and benchmarks
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._run())
        return await future

    async def _run(self) -> None:
        while self._pending:
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
            self.batches += 1
            self.items += len(batch)
            try:
                outcomes = await self._process([item for item, _ in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(outcomes)} outcomes for "
                                       f"{len(batch)} items")
            except asyncio.CancelledError:
                for _, future in batch + self._pending:
                    future.cancel()
                self._pending.clear()
                raise
            except Exception as exc:  # the whole batch failed (the transaction did): each
                # caller gets the error, as it would have from its own transaction
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the caller went away
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
