"""Audit actions: verify the chain, search it."""

from __future__ import annotations

from contextlib import closing

from sqlalchemy.orm import Session

from telehealth.audit import repository
from telehealth.audit.model import GENESIS_HASH, VerifyResult, combine, verify_one


def verify_chain(session: Session) -> VerifyResult:
    """Verify every chain against its head, including chains whose head has gone missing."""
    heads = repository.heads(session)
    results = []
    for chain_id in sorted(heads.keys() | repository.chains_in_rows(session)):
        head_seq, head_hash = heads.get(chain_id, (0, GENESIS_HASH))
        with closing(repository.iter_chain(session, chain_id)) as records:
            results.append(verify_one(chain_id, records, head_seq, head_hash))
    return combine(results)
