"""The pure hash chain: any edit, deletion or reordering is detected."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from telehealth.audit.model import (
    GENESIS_HASH,
    Action,
    AuditEvent,
    ChainedRecord,
    Outcome,
    chain,
    verify_one,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(n: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            at=T0 + timedelta(seconds=i),
            action=Action.READ,
            outcome=Outcome.SUCCESS,
            object_type="patient",
            object_id=str(i),
            actor_id=uuid.uuid4(),
            actor_role="clinician",
            patient_id=uuid.uuid4(),
            detail={"n": i},
        )
        for i in range(n)
    ]


def _verify(records: list[ChainedRecord], head: ChainedRecord) -> bool:
    return verify_one(3, records, head.seq, head.hash).ok


def test_intact_chain_verifies() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(20))
    assert _verify(records, records[-1])
    assert verify_one(3, [], 0, GENESIS_HASH).ok


def test_a_row_moved_to_another_chain_is_detected() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(3))
    moved = [records[0], dataclasses.replace(records[1], chain=4), records[2]]
    assert not _verify(moved, records[-1])


@given(
    st.integers(min_value=0, max_value=19),
    st.sampled_from(["object_id", "actor_role", "outcome", "at", "detail", "patient_id"]),
)
def test_any_single_field_edit_is_detected(index: int, field: str) -> None:
    records = chain(3, 0, GENESIS_HASH, _events(20))
    event = records[index].event
    changes: dict[str, Any] = {
        "object_id": "tampered",
        "actor_role": "admin",
        "outcome": Outcome.DENIED,
        "at": event.at + timedelta(microseconds=1),
        "detail": {"n": -1},
        "patient_id": uuid.uuid4(),
    }
    edited = dataclasses.replace(event, **{field: changes[field]})
    tampered = list(records)
    tampered[index] = dataclasses.replace(records[index], event=edited)
    assert not _verify(tampered, records[-1])


def test_deletion_anywhere_and_reordering_are_detected() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(10))
    for index in range(10):
        assert not _verify(records[:index] + records[index + 1 :], records[-1])
    shuffled = list(records)
    rng = random.Random(7)
    while shuffled == records:
        rng.shuffle(shuffled)
    assert not _verify(shuffled, records[-1])


def test_rewriting_the_tail_without_the_head_is_detected() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(5))
    forged = chain(3, 4, records[3].hash, _events(1))
    assert not _verify(records[:4] + forged, records[-1])
