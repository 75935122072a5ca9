"""Password hashing, opaque bearer secrets and TOTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from telehealth.errors import DomainError, ErrorCode

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown email like that of a known one.
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-the-same-cost")

PASSWORD_MIN = 12
PASSWORD_MAX = 128
TOKEN_BYTES = 32  # 256 bits; invite links and session cookies need at least 128


def check_password_policy(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long",
            field="password",
        )


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str) -> tuple[str, bytes]:
    """A bearer secret and the digest stored in its place (the secret itself is never stored)."""
    token = f"{prefix}_{secrets.token_urlsafe(TOKEN_BYTES)}"
    return token, digest(token)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class SecretBox:
    """Encrypts small secrets (TOTP seeds) at rest with a key derived from one app secret."""

    def __init__(self, app_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"telehealth-totp").derive(
            app_secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def open(self, sealed: bytes) -> str | None:
        """The value, or None when this box's key did not seal it (or it was altered)."""
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            return None


# A sealed value is ``<key id>:<Fernet token>``; Fernet tokens are URL-safe base64, so the
# first ":" ends the key id. Values sealed before key ids existed are the bare token.
_KEY_ID_SEPARATOR = b":"
_KEY_ID = re.compile(rb"[0-9a-f]{12}")
_KEY_ID_INFO = b"telehealth secret key id"


def secret_key_id(app_secret: str) -> str:
    """A short public name for an app secret: 48 bits of an HMAC under the secret itself, which
    tells keys apart and reveals nothing of them."""
    return hmac.new(app_secret.encode(), _KEY_ID_INFO, hashlib.sha256).hexdigest()[:12]


class SecretKeyring:
    """The app secrets (``TELEHEALTH_SECRET_KEY`` first, then the previous ones): the current
    one seals, each one still opens what it sealed and still counts sign-in throttles.

    Sealed values name the key that sealed them by its :func:`secret_key_id`, never the key."""

    def __init__(self, current: str, previous: Iterable[str] = ()) -> None:
        self._boxes: dict[str, SecretBox] = {}
        self._secrets: dict[str, bytes] = {}
        for secret in (current, *previous):
            key_id = secret_key_id(secret)
            if key_id not in self._boxes:
                self._boxes[key_id] = SecretBox(secret)
                self._secrets[key_id] = secret.encode()
        self.current_id = secret_key_id(current)

    @property
    def ids(self) -> tuple[str, ...]:
        """The key ids, the current one first."""
        return tuple(self._boxes)

    def __repr__(self) -> str:
        return f"SecretKeyring(current={self.current_id!r}, ids={self.ids!r})"

    def seal(self, value: str) -> bytes:
        token = self._boxes[self.current_id].seal(value)
        return self.current_id.encode() + _KEY_ID_SEPARATOR + token

    def key_id_of(self, sealed: bytes) -> str | None:
        """The id of the key that sealed ``sealed``; None for a value sealed before key ids."""
        key_id, separator, _ = sealed.partition(_KEY_ID_SEPARATOR)
        return key_id.decode() if separator and _KEY_ID.fullmatch(key_id) else None

    def is_current(self, sealed: bytes) -> bool:
        return self.key_id_of(sealed) == self.current_id

    def open(self, sealed: bytes) -> str:
        """The sealed value, opened with the key that sealed it (a value from before key ids:
        with whichever key opens it). A key that is not configured is a configuration error
        naming its id."""
        key_id = self.key_id_of(sealed)
        if key_id is None:
            candidates = list(self._boxes.values())
            token = sealed
        else:
            box = self._boxes.get(key_id)
            if box is None:
                raise DomainError(
                    ErrorCode.CONFIGURATION,
                    "the MFA secret was sealed with a secret key that is not configured",
                    key_id=key_id,
                )
            candidates = [box]
            token = sealed.partition(_KEY_ID_SEPARATOR)[2]
        for box in candidates:
            value = box.open(token)
            if value is not None:
                return value
        raise DomainError(
            ErrorCode.CONFIGURATION,
            "the MFA secret cannot be decrypted with the configured secret keys",
            key_id=key_id or "none",
        )

    def reseal(self, sealed: bytes) -> bytes | None:
        """``sealed`` sealed again under the current key, or None if it already is."""
        if self.is_current(sealed):
            return None
        return self.seal(self.open(sealed))

    def macs(self, message: bytes) -> tuple[bytes, ...]:
        """HMAC-SHA256 of ``message`` under each key, the current key's first."""
        return tuple(hmac.digest(key, message, "sha256") for key in self._secrets.values())


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="telehealth")


def accepted_totp_step(secret: str, code: str, at: datetime, last_step: int) -> int | None:
    """The time step a code belongs to, if valid now (±1 step) and newer than the last one used."""
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(at.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        candidate = totp.generate_otp(step)
        if hmac.compare_digest(candidate, code) and step > last_step:
            return step
    return None
