"""The checkpoint file: each chain's last signed head, kept outside the database.

One JSON document under the data directory, replaced atomically. It holds no PHI: chain
numbers, sequence numbers, hashes, times and key ids. A checkpoint whose signature does not
verify under the configured audit keys is refused as a whole, never skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from telehealth.audit.model import ChainKeys, Checkpoint, checkpoint_signed
from telehealth.errors import DomainError, ErrorCode
from telehealth.storage.local import write_atomic

_VERSION = 1


def _damaged(reason: str) -> DomainError:
    return DomainError(ErrorCode.CONFIGURATION, f"audit checkpoint file: {reason}")


def load(path: Path, keys: ChainKeys) -> dict[int, Checkpoint]:
    """The signed checkpoints by chain; empty if none has been written yet."""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise _damaged("unreadable") from None
    try:
        if document["version"] != _VERSION:
            raise _damaged("unknown version")
        found = [_parse(entry) for entry in document["checkpoints"]]
    except (KeyError, TypeError, ValueError):
        raise _damaged("malformed") from None
    for checkpoint in found:
        if not checkpoint_signed(checkpoint, keys):
            raise _damaged(f"the signature of chain {checkpoint.chain}'s checkpoint is invalid")
    return {checkpoint.chain: checkpoint for checkpoint in found}


def save(path: Path, checkpoints: Iterable[Checkpoint]) -> None:
    document = {
        "version": _VERSION,
        "checkpoints": [
            {
                "chain": c.chain,
                "seq": c.seq,
                "head_hash": c.head_hash,
                "at": c.at.isoformat(timespec="microseconds"),
                "key_id": c.key_id,
                "signature": c.signature,
            }
            for c in sorted(checkpoints, key=lambda c: c.chain)
        ],
    }
    write_atomic(path, [json.dumps(document, indent=1).encode()])


def _parse(entry: dict[str, object]) -> Checkpoint:
    return Checkpoint(
        chain=int(str(entry["chain"])),
        seq=int(str(entry["seq"])),
        head_hash=str(entry["head_hash"]),
        at=datetime.fromisoformat(str(entry["at"])),
        key_id=str(entry["key_id"]),
        signature=str(entry["signature"]),
    )
