"""Key-encryption keys (KEKs): the current one wraps new data keys, older ones still unwrap.

Configuration text is ``"k2:<base64>,k1:<base64>"``; the first entry is current. The audit
keys (``TELEHEALTH_AUDIT_KEYS``) are written the same way and read by :func:`parse_key_list`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from telehealth.errors import DomainError, ErrorCode
from telehealth.storage import crypto

_KEK_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _config_error(message: str, label: str = "storage keyring") -> DomainError:
    return DomainError(ErrorCode.CONFIGURATION, f"{label}: {message}")


@dataclass(frozen=True)
class Kek:
    kek_id: str
    # Excluded from repr so a KEK never lands in a log line or traceback by accident.
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEK_ID.fullmatch(self.kek_id):
            raise _config_error("key id must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-'")
        if len(self.key) != crypto.KEY_SIZE:
            raise _config_error(f"key {self.kek_id!r} is not 32 bytes")


class Keyring:
    """An ordered set of KEKs; the first is used for new writes."""

    def __init__(self, keks: Iterable[Kek]) -> None:
        self._keks: dict[str, Kek] = {}
        for kek in keks:
            if kek.kek_id in self._keks:
                raise _config_error(f"duplicate key id {kek.kek_id!r}")
            self._keks[kek.kek_id] = kek
        if not self._keks:
            raise _config_error("no keys configured")
        self._current = next(iter(self._keks.values()))

    @classmethod
    def from_config(cls, text: str) -> Keyring:
        return cls(Kek(kek_id, key) for kek_id, key in parse_key_list(text, "storage keyring"))

    @classmethod
    def generate(cls, kek_id: str = "k1") -> Keyring:
        return cls([Kek(kek_id, crypto.new_data_key())])

    def with_new_current(self, kek: Kek) -> Keyring:
        """A keyring where ``kek`` is current and every existing KEK still decrypts."""
        return Keyring([kek, *self._keks.values()])

    def to_config(self) -> str:
        return ",".join(f"{k.kek_id}:{base64.b64encode(k.key).decode('ascii')}" for k in self)

    @property
    def current(self) -> Kek:
        return self._current

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._keks)

    def __iter__(self) -> Iterator[Kek]:
        return iter(self._keks.values())

    def __repr__(self) -> str:
        return f"Keyring(current={self._current.kek_id!r}, ids={self.ids!r})"

    def get(self, kek_id: str) -> Kek:
        kek = self._keks.get(kek_id)
        if kek is None:
            raise DomainError(
                ErrorCode.CONFIGURATION,
                "the key-encryption key for this blob is not configured",
                kek_id=kek_id,
            )
        return kek

    def wrap(self, data_key: bytes, blob_id: str) -> crypto.KeyRecord:
        kek = self._current
        return crypto.wrap_data_key(kek.key, kek.kek_id, data_key, blob_id)

    def unwrap(self, record: crypto.KeyRecord, blob_id: str) -> bytes:
        return crypto.unwrap_data_key(self.get(record.kek_id).key, record, blob_id)


def parse_key_list(text: str, label: str) -> list[tuple[str, bytes]]:
    """The ``(id, key)`` entries of ``"<id>:<base64 key>,..."`` in order: ids unique, keys 32
    bytes. Errors name the setting by ``label`` and never echo key material."""
    entries = [_parse_entry(entry, label) for entry in text.split(",") if entry.strip()]
    if not entries:
        raise _config_error("no keys configured", label)
    seen: set[str] = set()
    for key_id, key in entries:
        if key_id in seen:
            raise _config_error(f"duplicate key id {key_id!r}", label)
        if len(key) != crypto.KEY_SIZE:
            raise _config_error(f"key {key_id!r} is not 32 bytes", label)
        seen.add(key_id)
    return entries


def _parse_entry(entry: str, label: str) -> tuple[str, bytes]:
    kek_id, sep, encoded = (part.strip() for part in entry.strip().partition(":"))
    # Never echo a malformed entry: it may be key material pasted in the wrong place.
    if not sep or not _KEK_ID.fullmatch(kek_id):
        raise _config_error("each entry must look like '<id>:<base64 key>'", label)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _config_error(f"key {kek_id!r} is not valid base64", label) from None
    return kek_id, key
