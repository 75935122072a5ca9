"""The audit keys of a deployment's settings (``TELEHEALTH_AUDIT_KEYS``)."""

from __future__ import annotations

import functools

from telehealth.audit.model import ChainKey, ChainKeys
from telehealth.config import Settings
from telehealth.storage.keyring import parse_key_list


def chain_keys(settings: Settings) -> ChainKeys:
    return _parsed(settings.audit_keys.get_secret_value())


@functools.cache
def _parsed(text: str) -> ChainKeys:
    # Parsed and derived once per process: every unit of work asks for the current key.
    return ChainKeys(
        ChainKey.derive(key_id, key) for key_id, key in parse_key_list(text, "audit keys")
    )
