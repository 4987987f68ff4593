"""The tool's side of LTI 1.3 as pylti1p3 needs it: registrations read from the database,
the tool's keys, and a launch-data storage shared by all portal processes in which a nonce
can be used once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pylti1p3.deployment import Deployment
from pylti1p3.launch_data_storage.cache import CacheDataStorage
from pylti1p3.registration import Registration
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import delete, select

from portal.plugins import NotFound, services
from portal_lti.models import LtiCacheEntry, LtiPlatform, LtiToolKey

NONCE_MARK = "-nonce-"


def new_tool_key() -> LtiToolKey:
    """A fresh RSA key pair; it signs from now on, older keys stay published until retired."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    # Stored encrypted: a dump of the database must not let anyone sign launches' replies.
    row = LtiToolKey(
        kid=str(Registration.get_jwk(_public_pem(pem))["kid"]),
        private_pem=services.encrypt_secret(pem),
    )
    row.active = True
    services.session().add(row)
    services.session().flush()
    return row


def private_pem(row: LtiToolKey) -> str:
    """The key's PEM (rows from before encryption are plaintext and read as they are)."""
    return services.decrypt_secret(row.private_pem)


def _public_pem(pem: str) -> str:
    private = serialization.load_pem_private_key(pem.encode(), None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signing_key() -> LtiToolKey:
    row = (
        services.session()
        .execute(
            select(LtiToolKey).where(LtiToolKey.active.is_(True)).order_by(LtiToolKey.id.desc())
        )
        .scalars()
        .first()
    )
    return row if row is not None else new_tool_key()


def published_keys() -> dict[str, list[dict[str, Any]]]:
    """The tool's JWKS: the public halves of every active key."""
    rows = (
        services.session()
        .execute(select(LtiToolKey).where(LtiToolKey.active.is_(True)).order_by(LtiToolKey.id))
        .scalars()
    )
    # pylti1p3 names a key by its thumbprint (Registration.get_jwk), as it signs with it.
    return {"keys": [dict(Registration.get_jwk(_public_pem(private_pem(row)))) for row in rows]}


def rotate_keys() -> LtiToolKey:
    """A new signing key; keys older than the previous one are retired (platforms cache
    JWKS, so the previous key stays published through one rotation)."""
    new = new_tool_key()
    active = (
        services.session()
        .execute(
            select(LtiToolKey).where(LtiToolKey.active.is_(True)).order_by(LtiToolKey.id.desc())
        )
        .scalars()
        .all()
    )
    for old in active[2:]:
        old.active = False
    return new


def find_platform(issuer: str, client_id: str | None) -> LtiPlatform | None:
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id:
        query = query.where(LtiPlatform.client_id == client_id)
    rows = services.session().execute(query).scalars().all()
    # Without a client id the issuer must be unambiguous.
    return rows[0] if len(rows) == 1 else None


def get_platform(platform_id: int) -> LtiPlatform:
    row = services.session().get(LtiPlatform, platform_id)
    if row is None:
        raise NotFound("no such LMS platform", code="lti_platform_not_found")
    return row


def registration_for(platform: LtiPlatform) -> Registration:
    """The platform as pylti1p3 sees it, with the tool's current signing key."""
    key = signing_key()
    return (
        Registration()
        .set_issuer(platform.issuer)
        .set_client_id(platform.client_id)
        .set_auth_login_url(platform.auth_login_url)
        .set_auth_token_url(platform.auth_token_url)
        .set_key_set_url(platform.key_set_url)
        .set_tool_private_key(private_pem(key))
        .set_tool_public_key(_public_pem(private_pem(key)))
    )


# How long the tool waits for an LMS's services (token, membership, scores): a platform
# that is down must not hold a launch or a background job for ever.
SERVICE_TIMEOUT_SECONDS = 15


class _TimedSession(requests.Session):
    """pylti1p3 sends its service requests without a timeout; this session adds one."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", SERVICE_TIMEOUT_SECONDS)
        return super().request(*args, **kwargs)


def service_connector(platform: LtiPlatform) -> ServiceConnector:
    """LTI Advantage service calls for `platform`: pylti1p3 obtains the access token by the
    OAuth2 client-credentials grant with a JWT assertion signed by the tool's key (Security
    Framework 4.1) and sends it as the bearer token."""
    return ServiceConnector(registration_for(platform), requests_session=_TimedSession())


class DatabaseToolConf(ToolConfAbstract):
    """Registrations from lti_platforms; every issuer may have several client ids."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        raise NotImplementedError("every issuer is looked up with its client id")

    # pylti1p3 handles a missing registration (None) although its abstract method's
    # annotation promises one.
    def find_registration_by_params(  # type: ignore[override]
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Registration | None:
        platform = find_platform(iss, client_id)
        return registration_for(platform) if platform is not None else None

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        raise NotImplementedError("every deployment is looked up with its client id")

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        platform = find_platform(iss, client_id)
        if platform is None or deployment_id not in (platform.deployment_ids or []):
            return None
        return Deployment().set_deployment_id(deployment_id)


class _DatabaseCache:
    """get/set with expiry over lti_cache, the interface CacheDataStorage expects."""

    def get(self, key: str) -> Any:
        row = services.session().get(LtiCacheEntry, key)
        if row is None or row.expires_at <= services.now():
            return None
        return row.value

    def set(self, key: str, value: Any, exp: int | None = None) -> None:
        expires = services.now() + timedelta(seconds=exp or 3600)
        row = services.session().get(LtiCacheEntry, key)
        if row is None:
            services.session().add(LtiCacheEntry(key=key, value=value, expires_at=expires))
        else:
            row.value, row.expires_at = value, expires
        services.session().flush()

    def take(self, key: str) -> bool:
        """Delete the entry; True only for the one caller that deleted a live entry."""
        result = services.session().execute(
            delete(LtiCacheEntry).where(
                LtiCacheEntry.key == key, LtiCacheEntry.expires_at > services.now()
            )
        )
        return bool(result.rowcount)


class PortalLaunchStorage(CacheDataStorage[Any]):
    """pylti1p3's storage on the portal's database. A nonce is consumed by its check, so a
    replayed id_token is refused even with the browser's cookies (the Security Framework's
    "nonce used once")."""

    def __init__(self) -> None:
        super().__init__()
        self._database = _DatabaseCache()
        # pylti1p3 declares the cache slot as None and fills it in its own subclasses.
        self._cache = self._database  # type: ignore[assignment]

    def check_value(self, key: str) -> bool:
        if NONCE_MARK in key:
            return self._database.take(self._prepare_key(key))
        return super().check_value(key)


def purge_expired() -> int:
    result = services.session().execute(
        delete(LtiCacheEntry).where(LtiCacheEntry.expires_at <= services.now())
    )
    return int(result.rowcount or 0)
