"""Batches on the event loop: many requests' small database calls as one statement.

Each request submits its item and waits; while one batch is running, the next one gathers.
With nothing running, a submission starts a batch on the loop's next turn, so a lone request
waits for no one; under load, batches grow to what arrives during one round trip, and the
per-statement cost (the round trip, the socket writes and reads, the server's parse and plan)
is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A batch's answer: for each item, its result or the error that item fails with.
RunBatch = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


class LoopBatcher(Generic[T, R]):
    """``run`` takes a batch of items and answers one outcome per item, in order; if it raises,
    every item of the batch fails with that error."""

    def __init__(self, run: RunBatch[T, R], *, max_batch: int) -> None:
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, done))
        runner = self._runner
        if runner is None or runner.done() or runner.get_loop() is not loop:
            # A runner left behind on another loop (test clients run one loop per request)
            # will never run again; its submissions went with their requests.
            self._pending = [p for p in self._pending if p[1].get_loop() is loop]
            self._runner = loop.create_task(self._drain())
        return await done

    async def close(self) -> None:
        """Waits for the batches already submitted."""
        runner = self._runner
        if runner is None or runner.done():
            return
        if runner.get_loop() is asyncio.get_running_loop():
            await runner

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            items = [item for item, _ in batch]
            try:
                outcomes: Sequence[R | Exception] = await self._run(items)
            except Exception as exc:
                outcomes = [exc] * len(batch)
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                _settle(done, outcome)


def _settle(done: asyncio.Future[R], outcome: R | Exception) -> None:
    if done.done():  # the request went away (client disconnected)
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
