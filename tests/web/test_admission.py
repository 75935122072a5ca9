"""Admission: a request's place among the scopes admitted at once, lent out while it waits."""

from __future__ import annotations

import asyncio

from telehealth.web.scoped import Admission


def test_a_suspended_place_serves_another_request_and_is_taken_back() -> None:
    async def scenario() -> list[str]:
        places = asyncio.Semaphore(1)
        events: list[str] = []
        first = Admission(places)

        async def other() -> None:
            async with Admission(places):
                events.append("other admitted")

        async with first:
            async with first.suspended():
                await asyncio.wait_for(other(), timeout=5)
            events.append("first has its place again")
            assert places.locked()
        assert not places.locked()
        return events

    assert asyncio.run(scenario()) == ["other admitted", "first has its place again"]


def test_cancelled_while_waiting_to_come_back_gives_back_nothing() -> None:
    async def scenario() -> bool:
        places = asyncio.Semaphore(1)
        first = Admission(places)
        holder = Admission(places)

        async def upload() -> None:
            async with first, first.suspended():
                async with holder:
                    pass  # another request takes the lent place...
                await holder.__aenter__()  # ...and keeps it while the upload wants it back

        task = asyncio.ensure_future(upload())
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await holder.__aexit__()
        # Exactly one place, free again: the cancelled request released nothing it lacked.
        async with Admission(places):
            assert places.locked()
        return not places.locked()

    assert asyncio.run(scenario())
