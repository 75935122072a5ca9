"""Pure core of the audit log: events, the hash chain, signed checkpoints and verification.

Each row's hash covers its chain, its sequence number, every field and the previous row's hash,
so an edit, a deletion or a reordering anywhere breaks the chain. The head of each chain (last
sequence and hash) is kept apart so that removing rows from the end is detected as well.

The hash is an HMAC under an audit key the database does not hold (the row records the key's
id), so someone who can write the database cannot recompute it after an edit. Rows written
before keys existed carry no key id and a plain SHA-256; once a chain has a keyed row, every
later row must be keyed. A signed checkpoint, kept outside the database, pins a chain's head
at a moment: the chain may not end below it, and its row there must carry the signed hash
(ADR 0010).

The log is a fixed number of independent chains. A transaction appends to one of them, so
concurrent transactions do not queue behind a single head while they commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum, StrEnum
from json.encoder import encode_basestring_ascii
from typing import Any, get_origin, get_type_hints

GENESIS_HASH = "0" * 64
CHAINS = 16


class Action(StrEnum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    DOWNLOAD = "download"
    LOGIN = "login"
    LOGOUT = "logout"
    TOKEN_ISSUE = "token_issue"  # noqa: S105 - an action name, not a secret
    TOKEN_REVOKE = "token_revoke"  # noqa: S105 - an action name, not a secret
    ACCESS_DENIED = "access_denied"
    PRIVILEGE_CHANGE = "privilege_change"
    BREAK_GLASS = "break_glass"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, to which object, by whom. ``detail`` holds codes, never PHI values."""

    at: datetime
    action: Action
    outcome: Outcome
    object_type: str
    object_id: str | None = None
    actor_id: uuid.UUID | None = None
    actor_role: str | None = None
    org_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    source_ip: str | None = None
    request_id: str | None = None
    detail: dict[str, str | int | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ShownEvent:
    """A stored event as the audit-log page lists it: the columns shown, none of the chain."""

    at: datetime
    action: str
    outcome: str
    object_type: str
    object_id: str | None
    actor_id: uuid.UUID | None
    actor_role: str | None
    patient_id: uuid.UUID | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    chain: int
    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str
    # The audit key the hash was made with; None for a row hashed before keys existed.
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChainKey:
    """One configured audit key, as the two keys derived from it: one for rows, one for
    checkpoints, so a row's MAC can never stand in for a checkpoint's signature."""

    key_id: str
    # Excluded from repr so key material never lands in a log line or traceback.
    row_key: bytes = field(repr=False)
    checkpoint_key: bytes = field(repr=False)

    @classmethod
    def derive(cls, key_id: str, secret: bytes) -> ChainKey:
        return cls(
            key_id,
            hmac.digest(secret, b"telehealth audit row", "sha256"),
            hmac.digest(secret, b"telehealth audit checkpoint", "sha256"),
        )


class ChainKeys:
    """The configured audit keys; the first hashes new rows, every one still verifies."""

    def __init__(self, keys: Iterable[ChainKey]) -> None:
        self._keys = {key.key_id: key for key in keys}
        if not self._keys:
            raise ValueError("no audit keys")
        self.current = next(iter(self._keys.values()))

    def get(self, key_id: str) -> ChainKey | None:
        return self._keys.get(key_id)

    def __repr__(self) -> str:
        return f"ChainKeys(current={self.current.key_id!r}, ids={tuple(self._keys)!r})"


def chain_for(key: str) -> int:
    """Spreads transactions over the chains by a stable hash of their request id."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % CHAINS


_DETAIL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


# --- the row, defined once ----------------------------------------------------------------
# A stored row is a ChainedRecord with its event's fields in place of ``event``, in that order
# (the column order of ``audit_events``). The hash payload, the inserted values, the reading
# back and the PostgreSQL append statement are all derived from these two dataclasses; each
# field's type decides how it is hashed and stored.

EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditEvent))
ROW_FIELDS: tuple[str, ...] = tuple(
    name
    for f in fields(ChainedRecord)
    for name in (EVENT_FIELDS if f.name == "event" else (f.name,))
)
# The row's position and its event: what the hash covers (not the hashes, nor the key id).
HASHED_FIELDS: tuple[str, ...] = ROW_FIELDS[: ROW_FIELDS.index("prev_hash")]

_EVENT_TYPES: dict[str, Any] = get_type_hints(AuditEvent)
_ROW_TYPES: dict[str, Any] = {**get_type_hints(ChainedRecord), **_EVENT_TYPES}
_event_values = operator.attrgetter(*EVENT_FIELDS)


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def _id(value: uuid.UUID | None) -> str:
    return "null" if value is None else f'"{value}"'


def _enum(value: Enum) -> str:
    return encode_basestring_ascii(value.value)


def _time(value: datetime) -> str:
    return encode_basestring_ascii(value.isoformat(timespec="microseconds"))


def _number(value: int) -> str:
    return str(int(value))


def _hash_encoder(kind: Any) -> Callable[[Any], str]:
    """How a field of type ``kind`` is written into the hashed JSON."""
    if kind is int:
        return _number
    if kind is datetime:
        return _time
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum
    if kind in (str, str | None):
        return _text
    if kind == uuid.UUID | None:
        return _id
    if get_origin(kind) is dict:
        return _DETAIL.encode
    raise TypeError(f"no hash encoding for audit field type {kind!r}")


# (JSON key, index in HASHED_FIELDS, encoder), in sorted key order.
_PAYLOAD = tuple(
    (f'"{name}":', HASHED_FIELDS.index(name), _hash_encoder(_ROW_TYPES[name]))
    for name in sorted(HASHED_FIELDS)
)


def canonical_payload(chain_id: int, seq: int, event: AuditEvent) -> bytes:
    """The bytes a row's hash covers: the row's position and event as compact JSON with sorted
    keys and ASCII-only strings, i.e. ``json.dumps(row, sort_keys=True, separators=(",", ":"))``
    (the tests hold it to that)."""
    values = (chain_id, seq, *_event_values(event))  # in HASHED_FIELDS order
    return (
        "{" + ",".join([key + encode(values[at]) for key, at, encode in _PAYLOAD]) + "}"
    ).encode()


def _stored(kind: Any) -> Callable[[Any], Any] | None:
    """How a field of type ``kind`` becomes a column value (None: as it is)."""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return operator.attrgetter("value")
    if get_origin(kind) is dict:
        return dict
    return None


def _loaded(kind: Any) -> Callable[[Any], Any] | None:
    """How a column value becomes a field of type ``kind`` (None: as it is)."""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind
    if get_origin(kind) is dict:
        return lambda value: dict(value or {})
    return None


_TO_COLUMN = tuple((name, _stored(_EVENT_TYPES[name])) for name in EVENT_FIELDS)
_FROM_COLUMN = tuple((name, _loaded(_EVENT_TYPES[name])) for name in EVENT_FIELDS)
_RECORD_FIELDS = tuple(f.name for f in fields(ChainedRecord))
_record_values = operator.attrgetter(*_RECORD_FIELDS)


def row_values(record: ChainedRecord) -> dict[str, Any]:
    """The row's column values, keyed by ``ROW_FIELDS``."""
    row: dict[str, Any] = {}
    for name, value in zip(_RECORD_FIELDS, _record_values(record), strict=True):
        if name != "event":
            row[name] = value
            continue
        for (field_name, store), field_value in zip(_TO_COLUMN, _event_values(value), strict=True):
            row[field_name] = field_value if store is None else store(field_value)
    return row


def record_from_row(row: Mapping[str, Any]) -> ChainedRecord:
    """The record a stored row (its columns keyed by ``ROW_FIELDS``) holds."""
    event = AuditEvent(
        **{name: row[name] if load is None else load(row[name]) for name, load in _FROM_COLUMN}
    )
    values: dict[str, Any] = {name: row[name] for name in _RECORD_FIELDS if name != "event"}
    return ChainedRecord(event=event, **values)


def chain_hash(
    prev_hash: str, chain_id: int, seq: int, event: AuditEvent, key: ChainKey | None
) -> str:
    """A row's hash: HMAC-SHA-256 under ``key`` over the key id, the previous hash and the
    row; ``None`` gives the plain SHA-256 of rows written before audit keys existed."""
    payload = canonical_payload(chain_id, seq, event)
    if key is None:
        return hashlib.sha256(f"{prev_hash}\n".encode() + payload).hexdigest()
    message = f"{key.key_id}\n{prev_hash}\n".encode() + payload
    return hmac.digest(key.row_key, message, "sha256").hex()


def chain(
    chain_id: int, prev_seq: int, prev_hash: str, events: Iterable[AuditEvent], key: ChainKey
) -> list[ChainedRecord]:
    records: list[ChainedRecord] = []
    for offset, event in enumerate(events, start=1):
        seq = prev_seq + offset
        digest = chain_hash(prev_hash, chain_id, seq, event, key)
        records.append(ChainedRecord(chain_id, seq, event, prev_hash, digest, key.key_id))
        prev_hash = digest
    return records


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's head at a moment, signed with an audit key kept outside the database."""

    chain: int
    seq: int
    head_hash: str
    at: datetime
    key_id: str
    signature: str

    def signed_bytes(self) -> bytes:
        return json.dumps(
            {
                "at": self.at.isoformat(timespec="microseconds"),
                "chain": self.chain,
                "head_hash": self.head_hash,
                "key_id": self.key_id,
                "seq": self.seq,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()


def sign_checkpoint(
    chain_id: int, seq: int, head_hash: str, at: datetime, key: ChainKey
) -> Checkpoint:
    unsigned = Checkpoint(chain_id, seq, head_hash, at, key.key_id, "")
    signature = hmac.digest(key.checkpoint_key, unsigned.signed_bytes(), "sha256").hex()
    return Checkpoint(chain_id, seq, head_hash, at, key.key_id, signature)


def checkpoint_signed(checkpoint: Checkpoint, keys: ChainKeys) -> bool:
    key = keys.get(checkpoint.key_id)
    if key is None:
        return False
    expected = sign_checkpoint(
        checkpoint.chain, checkpoint.seq, checkpoint.head_hash, checkpoint.at, key
    )
    return hmac.compare_digest(expected.signature, checkpoint.signature)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    problem: str | None = None
    at_seq: int | None = None
    chain: int | None = None


def verify_one(
    chain_id: int,
    records: Iterable[ChainedRecord],
    head_seq: int,
    head_hash: str,
    keys: ChainKeys,
    checkpoint: Checkpoint | None = None,
    *,
    resume: bool = False,
) -> VerifyResult:
    """Check one chain: continuity, every hash, and that it ends exactly at its recorded head.

    With a (verified) ``checkpoint``, the chain may not end below it, its row there must carry
    the signed hash, and every row after it must be keyed. With ``resume``, ``records`` start
    just after the checkpoint: the rows up to it were checked when it was signed.
    """
    start = checkpoint if resume else None
    expected_prev = start.head_hash if start else GENESIS_HASH
    expected_seq = start.seq + 1 if start else 1
    keyed_only = checkpoint is not None and checkpoint.seq < expected_seq
    count = 0
    for record in records:
        count += 1
        problem = _record_problem(
            chain_id, record, expected_seq, expected_prev, keys, keyed_only, checkpoint
        )
        if problem is not None:
            return VerifyResult(False, count, problem, record.seq, chain_id)
        keyed_only = keyed_only or record.key_id is not None
        keyed_only = keyed_only or (checkpoint is not None and record.seq >= checkpoint.seq)
        expected_prev = record.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if checkpoint is not None and last_seq < checkpoint.seq:
        return VerifyResult(
            False, count, "chain ends below its signed checkpoint", last_seq, chain_id
        )
    if last_seq != head_seq or expected_prev != (head_hash if head_seq else GENESIS_HASH):
        return VerifyResult(
            False, count, "chain does not end at the recorded head", last_seq, chain_id
        )
    return VerifyResult(True, count)


def continuation_problem(
    checkpoint: Checkpoint, head_seq: int, pinned_hash: str | None, unkeyed_after: bool
) -> str | None:
    """Why a chain's head cannot be signed as a continuation of its signed ``checkpoint``, or
    None. ``pinned_hash`` is the hash of the chain's row at the checkpoint's sequence number
    (None if the row is gone); ``unkeyed_after`` whether any row after it up to the head is
    unkeyed. Every row between is left to ``verify_one``: without the key no row can be given a
    hash that verifies, so signing over an edited row hides nothing from ``audit verify``."""
    if head_seq < checkpoint.seq:
        return "chain ends below its signed checkpoint"
    if pinned_hash != checkpoint.head_hash:
        return "row does not match the signed checkpoint"
    if unkeyed_after:
        return "unkeyed row where only keyed rows may follow"
    return None


def _record_problem(
    chain_id: int,
    record: ChainedRecord,
    expected_seq: int,
    expected_prev: str,
    keys: ChainKeys,
    keyed_only: bool,
    checkpoint: Checkpoint | None,
) -> str | None:
    if record.chain != chain_id or record.seq != expected_seq:
        return "sequence gap or reorder"
    if record.prev_hash != expected_prev:
        return "previous-hash link broken"
    key = None
    if record.key_id is not None:
        key = keys.get(record.key_id)
        if key is None:
            return "row hashed with an audit key that is not configured"
    elif keyed_only:
        return "unkeyed row where only keyed rows may follow"
    if chain_hash(record.prev_hash, chain_id, record.seq, record.event, key) != record.hash:
        return "row contents do not match their hash"
    pinned = checkpoint is not None and record.seq == checkpoint.seq
    if pinned and checkpoint is not None and record.hash != checkpoint.head_hash:
        return "row does not match the signed checkpoint"
    return None


def combine(results: Iterable[VerifyResult]) -> VerifyResult:
    total = 0
    for result in results:
        total += result.rows_checked
        if not result.ok:
            return VerifyResult(False, total, result.problem, result.at_seq, result.chain)
    return VerifyResult(True, total)
