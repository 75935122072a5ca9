"""Audit actions: verify the chains, sign their heads into the checkpoint file, search the log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from telehealth.access import service as access
from telehealth.audit import checkpoints, repository
from telehealth.audit.model import (
    CHAINS,
    GENESIS_HASH,
    Action,
    ChainKeys,
    Checkpoint,
    ShownEvent,
    VerifyResult,
    combine,
    continuation_problem,
    sign_checkpoint,
    verify_one,
)
from telehealth.scope import Scope


def verify_chain(
    session: Session, keys: ChainKeys, anchors: Mapping[int, Checkpoint]
) -> VerifyResult:
    """Verify every chain from its first row against its head and its signed checkpoint,
    including chains whose head or rows have gone missing."""
    heads = repository.heads(session)
    results = []
    for chain_id in sorted(heads.keys() | repository.chains_in_rows(session) | anchors.keys()):
        head_seq, head_hash = heads.get(chain_id, (0, GENESIS_HASH))
        with closing(repository.iter_chain(session, chain_id)) as records:
            results.append(
                verify_one(chain_id, records, head_seq, head_hash, keys, anchors.get(chain_id))
            )
    return combine(results)


def write_checkpoints(session: Session, keys: ChainKeys, path: Path, at: datetime) -> VerifyResult:
    """Sign each chain's head into the checkpoint file, where the head continues the chain's
    previous checkpoint; a chain without one is verified whole first. A chain that fails keeps
    its previous checkpoint, so a rolled-back chain can never move its checkpoint back.

    ``rows_checked`` counts the rows the new checkpoints cover beyond the previous ones."""
    previous = checkpoints.load(path, keys)
    heads = repository.heads(session)
    signed: list[Checkpoint] = []
    results = []
    # Every chain, those no process has written to yet too: a chain's first checkpoint pins
    # its whole past, which costs least while it has none.
    for chain_id in sorted(set(range(CHAINS)) | heads.keys() | previous.keys()):
        head_seq, head_hash = heads.get(chain_id, (0, GENESIS_HASH))
        prior = previous.get(chain_id)
        result = (
            _first_check(session, chain_id, head_seq, head_hash, keys)
            if prior is None
            else _continuation(session, prior, head_seq)
        )
        results.append(result)
        if result.ok:
            signed.append(sign_checkpoint(chain_id, head_seq, head_hash, at, keys.current))
        elif prior is not None:
            signed.append(prior)
    checkpoints.save(path, signed)
    return combine(results)


def _first_check(
    session: Session, chain_id: int, head_seq: int, head_hash: str, keys: ChainKeys
) -> VerifyResult:
    """A chain's first checkpoint pins its whole past, so every row of it is verified once."""
    # Bounded by the head read before: rows appended since belong to the next checkpoint.
    with closing(repository.iter_chain(session, chain_id, upto=head_seq)) as records:
        return verify_one(chain_id, records, head_seq, head_hash, keys)


def _continuation(session: Session, prior: Checkpoint, head_seq: int) -> VerifyResult:
    """Two indexed reads, whatever the write rate: the row the previous checkpoint pins and
    whether an unkeyed row follows it (see :func:`continuation_problem`)."""
    # A checkpoint of a chain with no rows yet pins the chain's start.
    pinned = GENESIS_HASH if prior.seq == 0 else repository.hash_at(session, prior.chain, prior.seq)
    problem = continuation_problem(
        prior,
        head_seq,
        pinned,
        repository.unkeyed_between(session, prior.chain, prior.seq, head_seq),
    )
    if problem is not None:
        return VerifyResult(False, 0, problem, prior.seq, prior.chain)
    return VerifyResult(True, head_seq - prior.seq)


@dataclass(frozen=True)
class AuditQuery:
    patient_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: Action | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def search_shown(scope: Scope, query: AuditQuery) -> list[ShownEvent]:
    """Administrators search their organization's log; the search is itself audited."""
    admin = access.require_admin(scope)
    rows = repository.search_shown(
        scope.session,
        repository.AuditFilter(
            org_id=admin.org_id,
            patient_id=query.patient_id,
            actor_id=query.actor_id,
            action=query.action.value if query.action else None,
            since=query.since,
            until=query.until,
            limit=max(1, min(query.limit, 500)),
        ),
    )
    scope.audit.record(Action.EXPORT, "audit_log", None, detail={"rows": len(rows), "via": "page"})
    return rows
