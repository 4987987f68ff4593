"""What insp sends: its settings on the portal side and tokens signed as insp signs them."""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://insp.school.test"
AUDIENCE = "https://portal.school.test"
SECRET = "insp-shared-secret-0123456789-abcdefghijklmnop"
LOGIN_URL = "https://insp.school.test/portal/sign-in"
LOGOUT_URL = "https://insp.school.test/logout"
LINK_URL = "https://insp.school.test/sso/from-portal"

BASE_CONFIG = {
    "SSO_INSP_ISSUER": ISSUER,
    "SSO_INSP_AUDIENCE": AUDIENCE,
    "SSO_INSP_HS256_SECRET": SECRET,
    "SSO_INSP_LOGIN_URL": LOGIN_URL,
    "SSO_INSP_LOGOUT_URL": LOGOUT_URL,
    "SSO_INSP_LINK_URL": LINK_URL,
    "SSO_INSP_LEEWAY_SECONDS": 30,
}


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**overrides) -> dict:
    """Claims as insp sends them; an override of None drops the claim."""
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "insp-1001",
        "email": "ada@insp-school.eu",
        "name": "Ada Lovelace",
        "role": "student",
        "phone": "+33612345678",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 120,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs_token(key: str = SECRET, **overrides) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="HS256")


def rs_token(key: rsa.RSAPrivateKey, kid: str | None = None, **overrides) -> str:
    return jwt.encode(
        claims(**overrides), key, algorithm="RS256", headers={"kid": kid} if kid else None
    )
