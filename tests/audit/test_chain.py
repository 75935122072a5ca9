"""The pure hash chain: any edit, deletion or reordering is detected."""

from __future__ import annotations

import dataclasses
import json
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
    canonical_payload,
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


_text = st.none() | st.text(max_size=12)
_ids = st.none() | st.uuids()


@given(
    chain_id=st.integers(min_value=0, max_value=15),
    seq=st.integers(min_value=1, max_value=2**62),
    at=st.datetimes(timezones=st.just(UTC)),
    action=st.sampled_from(Action),
    outcome=st.sampled_from(Outcome),
    object_type=st.text(max_size=12),
    object_id=_text,
    actor_id=_ids,
    actor_role=_text,
    org_id=_ids,
    patient_id=_ids,
    source_ip=_text,
    request_id=_text,
    detail=st.dictionaries(
        st.text(max_size=8), st.text(max_size=8) | st.integers() | st.booleans(), max_size=4
    ),
)
def test_the_hashed_payload_is_sorted_compact_json(chain_id: int, seq: int, **fields: Any) -> None:
    """The hash covers exactly ``json.dumps(row, sort_keys=True, separators=(",", ":"))``:
    rows written by any version of telehealth keep verifying."""
    event = AuditEvent(**fields)
    row = {
        "chain": chain_id,
        "seq": seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "action": event.action.value,
        "outcome": event.outcome.value,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "actor_id": None if event.actor_id is None else str(event.actor_id),
        "actor_role": event.actor_role,
        "org_id": None if event.org_id is None else str(event.org_id),
        "patient_id": None if event.patient_id is None else str(event.patient_id),
        "source_ip": event.source_ip,
        "request_id": event.request_id,
        "detail": event.detail,
    }
    expected = json.dumps(row, sort_keys=True, separators=(",", ":")).encode()
    assert canonical_payload(chain_id, seq, event) == expected
