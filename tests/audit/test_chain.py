"""The pure hash chain: any edit, deletion or reordering is detected, also by someone who
can rewrite every row but holds no audit key; signed checkpoints catch a cut-off tail."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from telehealth.audit.model import (
    GENESIS_HASH,
    HASHED_FIELDS,
    ROW_FIELDS,
    Action,
    AuditEvent,
    ChainedRecord,
    ChainKey,
    ChainKeys,
    Outcome,
    canonical_payload,
    chain,
    chain_hash,
    checkpoint_signed,
    continuation_problem,
    record_from_row,
    row_values,
    sign_checkpoint,
    verify_one,
)
from telehealth.audit.tables import AuditRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = ChainKey.derive("k1", b"1" * 32)
KEYS = ChainKeys([KEY])
# Someone with write access to the database but not the key: same key id, other secret.
STRANGER = ChainKey.derive("k1", b"2" * 32)


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
    return verify_one(3, records, head.seq, head.hash, KEYS).ok


def test_intact_chain_verifies() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(20), KEY)
    assert _verify(records, records[-1])
    assert verify_one(3, [], 0, GENESIS_HASH, KEYS).ok


def test_a_row_moved_to_another_chain_is_detected() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(3), KEY)
    moved = [records[0], dataclasses.replace(records[1], chain=4), records[2]]
    assert not _verify(moved, records[-1])


@given(
    st.integers(min_value=0, max_value=19),
    st.sampled_from(["object_id", "actor_role", "outcome", "at", "detail", "patient_id"]),
)
def test_any_single_field_edit_is_detected(index: int, field: str) -> None:
    records = chain(3, 0, GENESIS_HASH, _events(20), KEY)
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
    records = chain(3, 0, GENESIS_HASH, _events(10), KEY)
    for index in range(10):
        assert not _verify(records[:index] + records[index + 1 :], records[-1])
    shuffled = list(records)
    rng = random.Random(7)
    while shuffled == records:
        rng.shuffle(shuffled)
    assert not _verify(shuffled, records[-1])


def test_rewriting_the_tail_without_the_head_is_detected() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(5), KEY)
    forged = chain(3, 4, records[3].hash, _events(1), KEY)
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


def _legacy_chain(n: int) -> list[ChainedRecord]:
    """Rows as telehealth wrote them before audit keys: plain SHA-256, no key id."""
    records: list[ChainedRecord] = []
    prev = GENESIS_HASH
    for seq, event in enumerate(_events(n), start=1):
        digest = hashlib.sha256(prev.encode() + b"\n" + canonical_payload(3, seq, event))
        records.append(ChainedRecord(3, seq, event, prev, digest.hexdigest()))
        prev = records[-1].hash
    return records


def _rehashed(
    records: list[ChainedRecord], key: ChainKey | None, start: int = 0
) -> list[ChainedRecord]:
    """The chain recomputed from row ``start`` on with ``key`` (None: plain SHA-256), as a
    database writer who edited that row would."""
    prev = records[start - 1].hash if start else GENESIS_HASH
    out = records[:start]
    for record in records[start:]:
        digest = chain_hash(prev, 3, record.seq, record.event, key)
        key_id = None if key is None else key.key_id
        out.append(dataclasses.replace(record, prev_hash=prev, hash=digest, key_id=key_id))
        prev = digest
    return out


@given(
    st.integers(min_value=1, max_value=9),
    st.sampled_from(["object_id", "actor_role", "outcome", "at", "detail", "patient_id"]),
    st.sampled_from([STRANGER, None]),
)
def test_an_edit_rehashed_without_the_key_is_detected(
    index: int, field: str, key: ChainKey | None
) -> None:
    """A writer edits one field of a keyed row and recomputes that row's hash and all later
    ones (and the head) with a key of their own, or as unkeyed rows."""
    records = chain(3, 0, GENESIS_HASH, _events(10), KEY)
    event = records[index].event
    changes: dict[str, Any] = {
        "object_id": "tampered",
        "actor_role": "admin",
        "outcome": Outcome.DENIED,
        "at": event.at + timedelta(microseconds=1),
        "detail": {"n": -1},
        "patient_id": uuid.uuid4(),
    }
    tampered = list(records)
    tampered[index] = dataclasses.replace(
        records[index], event=dataclasses.replace(event, **{field: changes[field]})
    )
    forged = _rehashed(tampered, key, start=index)
    result = verify_one(3, forged, forged[-1].seq, forged[-1].hash, KEYS)
    assert not result.ok
    assert result.at_seq == index + 1
    # The same rewrite with the real key is what the key protects against.
    genuine = _rehashed(tampered, KEY, start=index)
    assert verify_one(3, genuine, genuine[-1].seq, genuine[-1].hash, KEYS).ok


def test_a_chain_rewritten_as_unkeyed_rows_is_caught_by_its_checkpoint() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(10), KEY)
    checkpoint = sign_checkpoint(3, 6, records[5].hash, T0, KEY)
    forged = _rehashed(records, None)
    head = forged[-1]
    assert verify_one(3, forged, head.seq, head.hash, KEYS).ok  # no anchor: undetectable
    result = verify_one(3, forged, head.seq, head.hash, KEYS, checkpoint)
    assert result.problem == "row does not match the signed checkpoint"


def test_rows_hashed_before_audit_keys_still_verify_and_the_keyed_chain_continues() -> None:
    legacy = _legacy_chain(4)
    assert chain_hash(legacy[0].prev_hash, 3, 1, legacy[0].event, None) == legacy[0].hash
    keyed = chain(3, 4, legacy[-1].hash, _events(3), KEY)
    records = legacy + keyed
    assert verify_one(3, records, 7, keyed[-1].hash, KEYS).ok
    # Once a chain is keyed it stays keyed: an unkeyed row after a keyed one is refused.
    downgraded = _rehashed(records, None, start=5)
    result = verify_one(3, downgraded, 7, downgraded[-1].hash, KEYS)
    assert result.problem == "unkeyed row where only keyed rows may follow"


def test_rows_under_a_rotated_out_key_verify_while_it_is_configured() -> None:
    old = chain(3, 0, GENESIS_HASH, _events(3), KEY)
    new_key = ChainKey.derive("k2", b"3" * 32)
    new = chain(3, 3, old[-1].hash, _events(3), new_key)
    rotated = ChainKeys([new_key, KEY])
    assert rotated.current is new_key
    assert verify_one(3, old + new, 6, new[-1].hash, rotated).ok
    result = verify_one(3, old + new, 6, new[-1].hash, ChainKeys([new_key]))
    assert result.problem == "row hashed with an audit key that is not configured"


def test_a_tail_cut_below_the_checkpoint_is_detected_even_with_the_head_rolled_back() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(8), KEY)
    checkpoint = sign_checkpoint(3, 6, records[5].hash, T0, KEY)
    cut = records[:5]
    assert verify_one(3, cut, 5, cut[-1].hash, KEYS).ok  # the head alone cannot tell
    result = verify_one(3, cut, 5, cut[-1].hash, KEYS, checkpoint)
    assert result.problem == "chain ends below its signed checkpoint"
    # Rows after the checkpoint are the honest limit: cutting those goes unnoticed.
    assert verify_one(3, records[:6], 6, records[5].hash, KEYS, checkpoint).ok
    # Resuming from the checkpoint checks only what follows it.
    rest = records[6:]
    assert verify_one(3, rest, 8, records[-1].hash, KEYS, checkpoint, resume=True).ok
    assert not verify_one(3, [], 5, records[4].hash, KEYS, checkpoint, resume=True).ok


def test_a_row_at_the_checkpoint_must_carry_the_signed_hash() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(4), KEY)
    other = chain(3, 0, GENESIS_HASH, _events(4), KEY)  # other events, same positions
    checkpoint = sign_checkpoint(3, 2, other[1].hash, T0, KEY)
    result = verify_one(3, records, 4, records[-1].hash, KEYS, checkpoint)
    assert result.problem == "row does not match the signed checkpoint"


def test_a_checkpoint_signature_covers_every_field() -> None:
    checkpoint = sign_checkpoint(3, 6, "a" * 64, T0, KEY)
    assert checkpoint_signed(checkpoint, KEYS)
    for change in (
        {"chain": 4},
        {"seq": 7},
        {"head_hash": "b" * 64},
        {"at": T0 + timedelta(seconds=1)},
    ):
        assert not checkpoint_signed(dataclasses.replace(checkpoint, **change), KEYS)
    forged = sign_checkpoint(3, 6, "a" * 64, T0, STRANGER)
    assert not checkpoint_signed(forged, KEYS)
    assert not checkpoint_signed(checkpoint, ChainKeys([ChainKey.derive("k9", b"1" * 32)]))


def test_the_table_stores_the_record_with_its_event_fields_in_place() -> None:
    """The row is defined once: ``audit_events`` has exactly the record's fields, the event's
    in place of ``event``, in that order, and the hash covers all but the hashes and key."""
    assert tuple(column.name for column in AuditRow.__table__.columns) == ROW_FIELDS
    assert set(HASHED_FIELDS) == set(ROW_FIELDS) - {"prev_hash", "hash", "key_id"}


def test_a_row_read_back_is_the_record_written() -> None:
    full = AuditEvent(
        at=T0,
        action=Action.BREAK_GLASS,
        outcome=Outcome.DENIED,
        object_type="patient",
        object_id="p-1",
        actor_id=uuid.uuid4(),
        actor_role="clinician",
        org_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        source_ip="192.0.2.1",
        request_id="r-1",
        detail={"reason": "emergency", "count": 2, "ok": False},
    )
    bare = AuditEvent(at=T0, action=Action.READ, outcome=Outcome.SUCCESS, object_type="x")
    for record in chain(5, 0, GENESIS_HASH, [full, bare], KEY):
        row = row_values(record)
        assert tuple(row) == ROW_FIELDS
        # Stored as plain column values: the enums' values, the detail as a mapping of its own.
        assert row["action"] == record.event.action.value
        assert type(row["action"]) is str
        assert row["detail"] == record.event.detail
        assert row["detail"] is not record.event.detail
        assert record_from_row(row) == record


def test_a_head_continues_its_checkpoint_only_over_the_signed_row_and_keyed_rows() -> None:
    records = chain(3, 0, GENESIS_HASH, _events(8), KEY)
    checkpoint = sign_checkpoint(3, 6, records[5].hash, T0, KEY)
    assert continuation_problem(checkpoint, 8, records[5].hash, unkeyed_after=False) is None
    assert continuation_problem(checkpoint, 6, records[5].hash, unkeyed_after=False) is None
    assert (
        continuation_problem(checkpoint, 5, records[4].hash, unkeyed_after=False)
        == "chain ends below its signed checkpoint"
    )
    for pinned in (records[4].hash, None):  # rewritten, or deleted
        assert (
            continuation_problem(checkpoint, 8, pinned, unkeyed_after=False)
            == "row does not match the signed checkpoint"
        )
    assert (
        continuation_problem(checkpoint, 8, records[5].hash, unkeyed_after=True)
        == "unkeyed row where only keyed rows may follow"
    )
