"""Ordered work handed from the event loop to a worker thread.

A request that streams a large body hands each piece to blocking work (sealing and writing,
hashing) while it receives the next. Scheduling each piece as its own thread-pool call would
make the worker wait for a trip through the event loop between pieces, and the event loop is
the busiest thread of a large upload. An :class:`OrderedWorker` instead keeps one thread-pool
call draining its queue for as long as pieces are waiting, then lets the thread go: a slow
client holds no thread while the next bytes are on their way.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")


class OrderedWorker(Generic[Item]):
    """Runs ``work(item)`` on a worker thread for each submitted item, one at a time, in order.

    At most ``depth`` items wait or run at once: :meth:`submit` waits for room, which bounds
    memory whatever the body size. The worker wakes the event loop only when it is waiting for
    room. After a failure the remaining items are dropped and the error is raised by the next
    :meth:`submit` or by :meth:`close`. Created and used on one event loop.
    """

    def __init__(self, work: Callable[[Item], None], *, depth: int) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._work = work
        self._depth = depth
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._queue: deque[Item] = deque()
        self._pending = 0  # submitted and not yet done
        self._room: asyncio.Future[None] | None = None  # the event loop waiting for room
        self._draining = False
        self._drain: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    async def submit(self, item: Item) -> None:
        while True:
            with self._lock:
                if self._pending < self._depth:
                    break
                room = self._room = self._loop.create_future()
            await room
        self._raise_failure()
        with self._lock:
            self._queue.append(item)
            self._pending += 1
            idle = not self._draining
            self._draining = True
        if idle:
            # A drain that has just found its queue empty is finishing; the new one takes
            # over the queue only after that point, so items still run one at a time, in order.
            self._drain = asyncio.ensure_future(run_in_threadpool(self._run))

    async def close(self) -> None:
        """Wait until every submitted item has run; raise the first failure."""
        if self._drain is not None:
            # Only the newest drain can hold items: an older one ended with its queue empty.
            await self._drain
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    return
                item = self._queue.popleft()
            try:
                if self._error is None:
                    self._work(item)
            except BaseException as exc:  # handed to the event loop by submit and close
                self._error = exc
            finally:
                self._done()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            room, self._room = self._room, None
        if room is not None:
            self._loop.call_soon_threadsafe(_settle, room)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
