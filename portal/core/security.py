"""Password hashing and encryption of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

ENCRYPTED_PREFIX = "enc:v1:"

_HASHERS = {
    "default": PasswordHasher(),  # argon2id with the library's (RFC 9106) parameters
    # Only for test suites, where hundreds of hashes would otherwise dominate the run time.
    "cheapest-for-tests": PasswordHasher.from_parameters(profiles.CHEAPEST),
}


def _profile() -> str:
    return current_app.config.get("PASSWORD_HASH_PROFILE", "default")


@lru_cache(maxsize=4)
def _dummy_hash(profile: str) -> str:
    # Verifying against this keeps the timing of "no such user" equal to "wrong password".
    return _HASHERS[profile].hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _HASHERS[_profile()].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = _HASHERS[_profile()]
    try:
        return (
            hasher.verify(password_hash or _dummy_hash(_profile()), password)
            and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _HASHERS[_profile()].check_needs_rehash(password_hash)


def _fernet() -> Fernet:
    return _fernet_for(current_app.config["SECRET_KEY"])


@lru_cache(maxsize=8)
def _fernet_for(secret_key: str) -> Fernet:
    digest = hashlib.sha256(("secrets-at-rest:" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(value: str) -> str:
    return ENCRYPTED_PREFIX + _fernet().encrypt(value.encode()).decode()


def decrypt_secret(value: str) -> str:
    if not value.startswith(ENCRYPTED_PREFIX):
        return value
    return _decrypted(current_app.config["SECRET_KEY"], value)


@lru_cache(maxsize=256)
def _decrypted(secret_key: str, value: str) -> str:
    """Every join reads the backend's secret: a ciphertext names one stored secret version
    (a new secret is a new ciphertext), so its plaintext is derived once per process, not
    once per request (key derivation + HMAC + AES were a measurable share of a join)."""
    try:
        return _fernet_for(secret_key).decrypt(value[len(ENCRYPTED_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("a stored secret cannot be decrypted: was SECRET_KEY changed?") from exc


def mask_secret(value: str | None) -> str | None:
    """What the API shows of a secret: enough to recognise it, never enough to use it."""
    if not value:
        return value
    plain = decrypt_secret(value)
    return "••••" + plain[-4:] if len(plain) >= 12 else "••••"
