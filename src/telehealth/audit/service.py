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
    GENESIS_HASH,
    Action,
    ChainKeys,
    Checkpoint,
    ShownEvent,
    VerifyResult,
    combine,
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
    """Check each chain from its last checkpoint to its current head and sign the heads that
    verify into the checkpoint file. A chain that fails keeps its previous checkpoint, so a
    rolled-back chain can never move its checkpoint back."""
    previous = checkpoints.load(path, keys)
    heads = repository.heads(session)
    signed: list[Checkpoint] = []
    results = []
    for chain_id in sorted(heads.keys() | previous.keys()):
        head_seq, head_hash = heads.get(chain_id, (0, GENESIS_HASH))
        prior = previous.get(chain_id)
        after = prior.seq if prior is not None else 0
        # Bounded by the head read above: rows appended since belong to the next checkpoint.
        rows = repository.iter_chain(session, chain_id, after=after, upto=head_seq)
        with closing(rows) as records:
            result = verify_one(chain_id, records, head_seq, head_hash, keys, prior, resume=True)
        results.append(result)
        if result.ok:
            signed.append(sign_checkpoint(chain_id, head_seq, head_hash, at, keys.current))
        elif prior is not None:
            signed.append(prior)
    checkpoints.save(path, signed)
    return combine(results)


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
