"""Password hashing, opaque bearer secrets and TOTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
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
    """Encrypts small secrets (TOTP seeds) at rest with a key derived from the app secret."""

    def __init__(self, app_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"telehealth-totp").derive(
            app_secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise DomainError(ErrorCode.CONFIGURATION, "MFA secret cannot be decrypted") from exc


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
