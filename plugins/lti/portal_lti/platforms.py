"""Registering LMS platforms and rotating the tool's key: the one way to do each, called by
the `portal lti` commands and the admin page alike. Every change is audit-logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for
from sqlalchemy import select

from portal.plugins import Conflict, NotFound, ValidationFailed, services
from portal_lti.i18n import _
from portal_lti.models import LtiPlatform, LtiToolKey
from portal_lti.tool import find_platform, get_platform, rotate_keys, signing_key

# Plain http is accepted only for the machine itself (a test LMS on 127.0.0.1); a real LMS
# signs launches and hands out tokens over https.
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
URL_FIELDS = ("issuer", "auth_login_url", "auth_token_url", "key_set_url")


@dataclass
class PlatformForm:
    """What an admin enters to register an LMS (the values the LMS shows for the tool)."""

    name: str = ""
    issuer: str = ""
    client_id: str = ""
    auth_login_url: str = ""
    auth_token_url: str = ""
    key_set_url: str = ""
    deployment_ids: list[str] = field(default_factory=list)

    @classmethod
    def from_fields(cls, fields: Any) -> PlatformForm:
        """From a form (a mapping of strings); deployment ids one a line or comma separated."""

        def text(name: str) -> str:
            return str(fields.get(name) or "").strip()

        raw = text("deployment_ids").replace(",", "\n")
        return cls(
            name=text("name"),
            issuer=text("issuer"),
            client_id=text("client_id"),
            auth_login_url=text("auth_login_url"),
            auth_token_url=text("auth_token_url"),
            key_set_url=text("key_set_url"),
            deployment_ids=[d.strip() for d in raw.splitlines() if d.strip()],
        )


def _check_url(label: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return
    raise ValidationFailed(
        _("%(field)s must be an https:// address (got “%(value)s”)", field=label, value=value),
        code="lti_platform_url",
    )


def _check_deployment_id(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 255 or any(c.isspace() for c in value):
        raise ValidationFailed(
            _(
                "a deployment id is one word of at most 255 characters (got “%(value)s”)",
                value=value,
            ),
            code="lti_deployment_id",
        )
    return value


def field_labels() -> dict[str, str]:
    """The fields' names as the page and its errors show them."""
    return {
        "name": _("Name"),
        "issuer": _("Issuer (platform id)"),
        "client_id": _("Client id"),
        "auth_login_url": _("OIDC authentication URL"),
        "auth_token_url": _("Access token URL"),
        "key_set_url": _("Public keyset URL (JWKS)"),
        "deployment_ids": _("Deployment ids"),
    }


def check(form: PlatformForm) -> None:
    """Every field of a new platform, with a message naming the first wrong one."""
    labels = field_labels()
    lengths = {"name": 200, "issuer": 255, "client_id": 255}
    for name in ("name", "issuer", "client_id", *URL_FIELDS[1:]):
        value = getattr(form, name)
        if not value:
            raise ValidationFailed(
                _("“%(field)s” must be filled in", field=labels[name]), code="lti_platform_missing"
            )
        limit = lengths.get(name, 1000)
        if len(value) > limit:
            raise ValidationFailed(
                _("%(field)s is longer than %(limit)s characters", field=labels[name], limit=limit),
                code="lti_platform_too_long",
            )
    for name in URL_FIELDS:
        _check_url(labels[name], getattr(form, name))
    if not form.deployment_ids:
        raise ValidationFailed(
            _("“%(field)s” must be filled in", field=labels["deployment_ids"]),
            code="lti_platform_missing",
        )
    form.deployment_ids = sorted({_check_deployment_id(d) for d in form.deployment_ids})


def _audit(action: str, platform: LtiPlatform, actor_id: int | None, **details: Any) -> None:
    """The change in the audit log, naming the platform as the CLI and the page know it."""
    services.audit(
        action,
        "lti_platform",
        platform.id,
        actor_id=actor_id,
        issuer=platform.issuer,
        client_id=platform.client_id,
        **details,
    )


def list_platforms() -> list[LtiPlatform]:
    return list(
        services.session().execute(select(LtiPlatform).order_by(LtiPlatform.name)).scalars()
    )


def register_platform(form: PlatformForm, *, actor_id: int | None = None) -> LtiPlatform:
    """A new LMS; the same issuer and client id twice is refused (add deployments instead)."""
    check(form)
    if find_platform(form.issuer, form.client_id) is not None:
        raise Conflict(
            _(
                "the platform %(issuer)s with client id %(client_id)s is already registered; "
                "add a deployment id to it instead",
                issuer=form.issuer,
                client_id=form.client_id,
            ),
            code="lti_platform_exists",
        )
    platform = LtiPlatform(
        name=form.name,
        issuer=form.issuer,
        client_id=form.client_id,
        auth_login_url=form.auth_login_url,
        auth_token_url=form.auth_token_url,
        key_set_url=form.key_set_url,
        deployment_ids=form.deployment_ids,
    )
    services.session().add(platform)
    services.session().flush()
    signing_key()  # the tool's key exists before the LMS first fetches the JWKS
    _audit("lti.platform", platform, actor_id)
    return platform


def add_deployments(
    platform_id: int, deployment_ids: list[str], *, actor_id: int | None = None
) -> LtiPlatform:
    platform = get_platform(platform_id)
    added = {_check_deployment_id(d) for d in deployment_ids}
    if not added:
        raise ValidationFailed(
            _("“%(field)s” must be filled in", field=field_labels()["deployment_ids"]),
            code="lti_platform_missing",
        )
    platform.deployment_ids = sorted({*(platform.deployment_ids or []), *added})
    _audit("lti.deployment_added", platform, actor_id, deployment_ids=sorted(added))
    return platform


def remove_deployment(
    platform_id: int, deployment_id: str, *, actor_id: int | None = None
) -> LtiPlatform:
    """Launches of that deployment are refused from now on; the platform keeps at least one."""
    platform = get_platform(platform_id)
    current = list(platform.deployment_ids or [])
    if deployment_id not in current:
        raise NotFound(
            _("the platform has no deployment id “%(value)s”", value=deployment_id),
            code="lti_deployment_not_found",
        )
    if len(current) == 1:
        raise ValidationFailed(
            _("a platform keeps at least one deployment id; remove the platform instead"),
            code="lti_last_deployment",
        )
    platform.deployment_ids = [d for d in current if d != deployment_id]
    _audit("lti.deployment_removed", platform, actor_id, deployment_id=deployment_id)
    return platform


def remove_platform(platform_id: int, *, actor_id: int | None = None) -> None:
    """The LMS can no longer launch; its activities' links to classes go with it (the classes
    and their people stay)."""
    from portal_lti.models import LtiResourceLink

    platform = get_platform(platform_id)
    links = services.session().execute(
        select(LtiResourceLink).where(LtiResourceLink.platform_id == platform.id)
    )
    for link in links.scalars():
        services.session().delete(link)
    _audit("lti.platform_removed", platform, actor_id)
    services.session().delete(platform)
    services.session().flush()


def rotate_tool_key(*, actor_id: int | None = None) -> LtiToolKey:
    """A new signing key; the previous one stays published (platforms cache the keyset)."""
    key = rotate_keys()
    services.audit("lti.key_rotated", "lti_tool_key", key.kid, actor_id=actor_id)
    return key


def current_key_ids() -> list[str]:
    """The kids in the tool's JWKS, newest (the signing one) first."""
    signing_key()
    rows = services.session().execute(
        select(LtiToolKey).where(LtiToolKey.active.is_(True)).order_by(LtiToolKey.id.desc())
    )
    return [row.kid for row in rows.scalars()]


def tool_urls() -> dict[str, str]:
    """What to enter in the LMS when registering the portal as a tool. Outside a request
    (`portal lti tool-config`) the URLs are on the portal's public BASE_URL."""
    if not has_request_context():
        base = str(current_app.config.get("BASE_URL") or "http://127.0.0.1:5000")
        with current_app.test_request_context(base_url=base):
            return tool_urls()
    return {
        "login_initiation_url": url_for("lti.login", _external=True),
        "redirect_uri": url_for("lti.launch", _external=True),
        "target_link_uri": url_for("lti.launch", _external=True),
        "public_keyset_url": url_for("lti.jwks", _external=True),
    }
