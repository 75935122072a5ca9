"""Audit actions: verify the chain, search it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from telehealth.audit import repository
from telehealth.audit.model import VerifyResult, verify


def verify_chain(session: Session) -> VerifyResult:
    head_seq, head_hash = repository.head(session)
    return verify(repository.iter_records(session), head_seq, head_hash)
