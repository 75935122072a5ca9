"""Audit actions: verify the chain, search it."""

from __future__ import annotations

from contextlib import closing

from sqlalchemy.orm import Session

from telehealth.audit import repository
from telehealth.audit.model import VerifyResult, verify


def verify_chain(session: Session) -> VerifyResult:
    head_seq, head_hash = repository.head(session)
    with closing(repository.iter_records(session)) as records:
        return verify(records, head_seq, head_hash)
