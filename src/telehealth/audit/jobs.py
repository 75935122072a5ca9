"""The audit log's background job: sign each chain's head into the checkpoint file."""

from __future__ import annotations

from datetime import timedelta

from telehealth import jobs
from telehealth.audit.keys import chain_keys
from telehealth.audit.service import write_checkpoints
from telehealth.config import Settings
from telehealth.logging import get_logger
from telehealth.scope import Scope

log = get_logger("telehealth.audit")


def _interval(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.audit_checkpoint_seconds)


@jobs.register("audit.checkpoint", every=_interval)
def checkpoint_heads(scope: Scope) -> int:
    """Rows appended since the last checkpoint can be cut off undetected, so this runs every
    ``TELEHEALTH_AUDIT_CHECKPOINT_SECONDS``; returns how many rows its new checkpoints cover
    beyond the previous ones."""
    settings = scope.settings
    result = write_checkpoints(
        scope.session, chain_keys(settings), settings.audit_checkpoint_file, scope.clock.now()
    )
    if not result.ok:
        log.error(
            "audit_chain_broken", chain=result.chain, seq=result.at_seq, problem=result.problem
        )
    return result.rows_checked
