"""OrderedWorker: ordered work on a worker thread, bounded, failures handed back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import anyio.to_thread
import pytest

from telehealth.workers import OrderedWorker


def test_items_run_one_at_a_time_in_submission_order_off_the_event_loop() -> None:
    async def scenario() -> tuple[list[int], set[int], int]:
        done: list[int] = []
        threads: set[int] = set()
        running = 0
        overlapped = 0
        lock = threading.Lock()

        def work(item: int) -> None:
            nonlocal running, overlapped
            with lock:
                running += 1
                overlapped = max(overlapped, running)
            threads.add(threading.get_ident())
            done.append(item)
            with lock:
                running -= 1

        worker: OrderedWorker[int] = OrderedWorker(work, depth=3)
        for item in range(200):
            await worker.submit(item)
            if item % 7 == 0:
                await asyncio.sleep(0)  # let some drains end and new ones start
        await worker.close()
        return done, threads, overlapped

    done, threads, overlapped = asyncio.run(scenario())
    assert done == list(range(200))
    assert overlapped == 1
    assert threading.get_ident() not in threads


def test_submit_waits_while_depth_items_are_pending() -> None:
    async def scenario() -> list[str]:
        gate = threading.Event()
        events: list[str] = []
        worker: OrderedWorker[int] = OrderedWorker(lambda _item: gate.wait(10), depth=2)
        await worker.submit(1)
        await worker.submit(2)
        third = asyncio.ensure_future(worker.submit(3))
        await asyncio.sleep(0.05)
        events.append("third waiting" if not third.done() else "third submitted early")
        gate.set()
        await third
        events.append("third submitted")
        await worker.close()
        return events

    assert asyncio.run(scenario()) == ["third waiting", "third submitted"]


def test_a_failure_drops_the_rest_and_is_raised_by_submit_and_close() -> None:
    async def scenario() -> tuple[list[int], str, str]:
        done: list[int] = []

        def work(item: int) -> None:
            if item == 3:
                raise OSError("disk gone")
            done.append(item)

        worker: OrderedWorker[int] = OrderedWorker(work, depth=8)
        for item in range(6):
            await worker.submit(item)
        with pytest.raises(OSError, match="disk gone") as at_close:
            await worker.close()
        with pytest.raises(OSError, match="disk gone") as at_submit:
            await worker.submit(99)
        return done, str(at_close.value), str(at_submit.value)

    assert asyncio.run(scenario()) == ([0, 1, 2], "disk gone", "disk gone")


def test_no_thread_is_held_while_no_item_is_waiting() -> None:
    """A slow client's upload borrows a thread only while it has bytes to process."""

    async def scenario() -> tuple[float, float, list[int]]:
        gate = threading.Event()
        done: list[int] = []

        def work(item: int) -> None:
            gate.wait(10)
            done.append(item)

        worker: OrderedWorker[int] = OrderedWorker(work, depth=4)
        limiter = anyio.to_thread.current_default_thread_limiter()
        await worker.submit(1)
        await _until(lambda: limiter.borrowed_tokens == 1)
        busy = limiter.borrowed_tokens
        gate.set()
        await _until(lambda: done == [1] and limiter.borrowed_tokens == 0)
        idle = limiter.borrowed_tokens  # the worker is still open: more items may come
        await worker.submit(2)
        await worker.close()
        return busy, idle, done

    assert asyncio.run(scenario()) == (1, 0, [1, 2])


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def test_depth_must_be_positive() -> None:
    async def scenario() -> None:
        OrderedWorker(lambda _item: None, depth=0)

    with pytest.raises(ValueError, match="depth"):
        asyncio.run(scenario())
