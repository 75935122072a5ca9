"""Pure core of the audit log: events, the hash chain and its verification.

Each row's hash covers its chain, its sequence number, every field and the previous row's hash,
so an edit, a deletion or a reordering anywhere breaks the chain. The head of each chain (last
sequence and hash) is kept apart so that removing rows from the end is detected as well.

The log is a fixed number of independent chains. A transaction appends to one of them, so
concurrent transactions do not queue behind a single head while they commit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from typing import Any

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


def chain_for(key: str) -> int:
    """Spreads transactions over the chains by a stable hash of their request id."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % CHAINS


_DETAIL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def canonical_payload(chain_id: int, seq: int, event: AuditEvent) -> bytes:
    """The bytes a row's hash covers: the row as compact JSON with sorted keys and ASCII-only
    strings, i.e. ``json.dumps(row, sort_keys=True, separators=(",", ":"))``.

    Written out field by field because every audited request hashes its rows on the request
    path; the keys below are in sorted order, and the tests hold this to ``json.dumps``.
    """
    e = event
    return (
        f'{{"action":{_text(e.action.value)},"actor_id":{_id(e.actor_id)},'
        f'"actor_role":{_text(e.actor_role)},'
        f'"at":{_text(e.at.isoformat(timespec="microseconds"))},"chain":{int(chain_id)},'
        f'"detail":{_DETAIL.encode(e.detail)},"object_id":{_text(e.object_id)},'
        f'"object_type":{_text(e.object_type)},"org_id":{_id(e.org_id)},'
        f'"outcome":{_text(e.outcome.value)},"patient_id":{_id(e.patient_id)},'
        f'"request_id":{_text(e.request_id)},"seq":{int(seq)},"source_ip":{_text(e.source_ip)}}}'
    ).encode()


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def _id(value: uuid.UUID | None) -> str:
    return "null" if value is None else f'"{value}"'


def chain_hash(prev_hash: str, chain_id: int, seq: int, event: AuditEvent) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(b"\n")
    digest.update(canonical_payload(chain_id, seq, event))
    return digest.hexdigest()


def chain(
    chain_id: int, prev_seq: int, prev_hash: str, events: Iterable[AuditEvent]
) -> list[ChainedRecord]:
    records: list[ChainedRecord] = []
    for offset, event in enumerate(events, start=1):
        seq = prev_seq + offset
        digest = chain_hash(prev_hash, chain_id, seq, event)
        records.append(ChainedRecord(chain_id, seq, event, prev_hash, digest))
        prev_hash = digest
    return records


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    problem: str | None = None
    at_seq: int | None = None
    chain: int | None = None


def verify_one(
    chain_id: int, records: Iterable[ChainedRecord], head_seq: int, head_hash: str
) -> VerifyResult:
    """Check one chain: continuity, every hash, and that it ends exactly at its recorded head."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for record in records:
        count += 1
        if record.chain != chain_id or record.seq != expected_seq:
            return VerifyResult(False, count, "sequence gap or reorder", record.seq, chain_id)
        if record.prev_hash != expected_prev:
            return VerifyResult(False, count, "previous-hash link broken", record.seq, chain_id)
        if chain_hash(record.prev_hash, chain_id, record.seq, record.event) != record.hash:
            return VerifyResult(
                False, count, "row contents do not match their hash", record.seq, chain_id
            )
        expected_prev = record.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if last_seq != head_seq or expected_prev != (head_hash if head_seq else GENESIS_HASH):
        return VerifyResult(
            False, count, "chain does not end at the recorded head", last_seq, chain_id
        )
    return VerifyResult(True, count)


def combine(results: Iterable[VerifyResult]) -> VerifyResult:
    total = 0
    for result in results:
        total += result.rows_checked
        if not result.ok:
            return VerifyResult(False, total, result.problem, result.at_seq, result.chain)
    return VerifyResult(True, total)
