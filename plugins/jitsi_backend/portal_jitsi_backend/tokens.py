"""Room names and the JWTs a Jitsi prosody token plugin (or 8x8 JaaS) accepts.

What prosody checks (jitsi-meet resources/prosody-plugins/luajwtjitsi.lib.lua and
token/util.lib.lua): header `typ` is "JWT" and `alg` is the configured one; the signature;
`exp` and `nbf`, when present, are JSON numbers (a quoted number is refused) and the
current time is inside them; `iss` is an accepted issuer; `aud` is present and accepted;
`room` is present and equals the lower-cased MUC room name, or is '*'; with multi-tenant
rooms (JaaS: `AppID/room`) the tenant must equal `sub`. `context.user` fields are shown to
everyone and must be strings (null breaks the client), and `moderator` / `affiliation`
decide who is a moderator where the deployment honours them (token_affiliation, JaaS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import unicodedata
from collections.abc import Mapping
from typing import Any

import jwt

from portal.plugins import BackendError, Participant
from portal.plugins.i18n import domain

# The plugin's own catalogue: a signing failure is shown to the teacher and the admin.
translations = domain("portal_jitsi_backend")

JAAS_ISSUER = "chat"
JAAS_AUDIENCE = "jitsi"


def room_name(meeting_key: str, title: str, secret: str) -> str:
    """Unguessable, stable per class occurrence, valid for Jitsi: lowercase, [a-z0-9-].

    The readable part is a slug of the class title; the rest is an HMAC of the
    occurrence's meeting key, so knowing a class id or title never reveals its room.
    """
    digest = hmac.new(
        secret.encode(), f"jitsi-room:{meeting_key}".encode(), hashlib.sha256
    ).digest()
    token = base64.b32encode(digest).decode().rstrip("=").lower()[:26]  # 130 bits
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")[:24].strip("-")
    return f"{slug or 'class'}-{token}"


def _int(settings: Mapping[str, Any], key: str, default: int) -> int:
    # The core applies schema defaults, but a 0 set by the admin must stay 0.
    value = settings.get(key)
    return default if value is None or value == "" else int(value)


def is_jaas(settings: Mapping[str, Any]) -> bool:
    return settings.get("mode") == "jaas"


def jaas_kid(settings: Mapping[str, Any]) -> str:
    """JaaS wants `kid` = "AppID/keyid"; admins often paste only the key id."""
    kid = str(settings.get("jaas_key_id") or "").strip()
    app_id = str(settings.get("app_id") or "").strip()
    return kid if "/" in kid else f"{app_id}/{kid}"


def xmpp_domain(settings: Mapping[str, Any]) -> str:
    """prosody's XMPP domain: it has no port, and may differ from the web host."""
    explicit = str(settings.get("xmpp_domain") or "").strip()
    return (explicit or str(settings["domain"]).split(":", 1)[0]).lower()


def muc_domain(settings: Mapping[str, Any]) -> str:
    return str(settings.get("muc_domain") or f"conference.{xmpp_domain(settings)}")


def room_path(settings: Mapping[str, Any], room: str) -> str:
    """The room as it appears in the meeting URL and the IFrame API's roomName."""
    return f"{settings['app_id']}/{room}" if is_jaas(settings) else room


def _user_context(participant: Participant, settings: Mapping[str, Any]) -> dict[str, Any]:
    moderator = participant.role == "moderator"
    user: dict[str, Any] = {
        # Every field is a string: prosody and the client break on null or numbers.
        "id": str(participant.user_id),
        "name": participant.name or f"User {participant.user_id}",
        "email": participant.email or "",
        "moderator": moderator,
    }
    if participant.avatar_url:
        user["avatar"] = participant.avatar_url
    if is_jaas(settings):
        user["hidden-from-recorder"] = False
    elif settings.get("token_affiliation", True):
        # jitsi-contrib token_affiliation: "owner" makes a moderator, "member" does not.
        user["affiliation"] = "owner" if moderator else "member"
    if settings.get("lobby") and moderator:
        # jitsi-contrib token_lobby_bypass: the teacher is never stuck in their own lobby.
        user["lobby_bypass"] = True
    return user


def _features(moderator: bool, record_allowed: bool, viewer_only: bool) -> dict[str, bool]:
    # Only the class's moderators may record, and only when the class is set to record.
    recording = moderator and record_allowed
    features = {
        "recording": recording,
        "livestreaming": False,
        "transcription": False,
        "outbound-call": False,
        "sip-outbound-call": False,
    }
    if viewer_only:
        # A "viewer only" guest: no screen sharing where the deployment enforces features
        # (JaaS); the room's config starts them muted with the camera off and no buttons.
        features["screen-sharing"] = False
    return features


def expiry(settings: Mapping[str, Any], now: int, ends_at: int | None) -> int:
    """`exp`: token_lifetime_seconds ahead, but no later than token_grace_seconds after the
    class's scheduled end; a join later than that (the class runs over) still gets a token
    valid for the grace period (or the lifetime, if shorter), never one already expired."""
    lifetime = _int(settings, "token_lifetime_seconds", 10800)
    if ends_at is None:
        return now + lifetime
    grace = _int(settings, "token_grace_seconds", 1800)
    return max(min(now + lifetime, int(ends_at) + grace), now + min(grace, lifetime))


def claims_for(
    settings: Mapping[str, Any],
    room: str,
    participant: Participant,
    *,
    record_allowed: bool,
    now: int | None = None,
    ends_at: int | None = None,
) -> dict[str, Any]:
    now = int(time.time()) if now is None else now
    skew = _int(settings, "clock_skew_seconds", 60)
    moderator = participant.role == "moderator"
    if is_jaas(settings):
        iss, aud, sub = JAAS_ISSUER, JAAS_AUDIENCE, str(settings["app_id"])
    else:
        iss = str(settings.get("issuer") or settings["app_id"])
        aud = str(settings.get("audience") or "jitsi")
        # prosody's enable_domain_verification compares sub with its XMPP domain.
        sub = str(settings.get("subject") or xmpp_domain(settings)).lower()
    return {
        "iss": iss,
        "aud": aud,
        "sub": sub,
        "room": room,
        "iat": now,
        # nbf a little in the past: prosody refuses tokens "not yet valid" when its clock
        # is behind the portal's; numbers, never strings (luajwtjitsi refuses those).
        "nbf": now - skew,
        "exp": expiry(settings, now, ends_at),
        "context": {
            "user": _user_context(participant, settings),
            "features": _features(moderator, record_allowed, participant.viewer_only),
            "group": "classroom-portal",
        },
    }


def sign(settings: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """HS256 with app_secret (self-hosted) or RS256 with the JaaS key and `kid`."""
    try:
        if is_jaas(settings):
            return jwt.encode(
                dict(claims),
                settings["jaas_private_key"],
                algorithm="RS256",
                headers={"kid": jaas_kid(settings), "typ": "JWT"},
            )
        return jwt.encode(
            dict(claims), settings["app_secret"], algorithm="HS256", headers={"typ": "JWT"}
        )
    except (KeyError, TypeError, ValueError, jwt.PyJWTError) as exc:
        # A malformed PEM key raises ValueError from cryptography; say what to fix.
        raise BackendError(
            translations.gettext(
                "the Jitsi token could not be signed; check the backend's keys (%(error)s)",
                error=exc.__class__.__name__,
            ),
            code="jitsi_token_key",
        ) from exc


def participant_token(
    settings: Mapping[str, Any],
    room: str,
    participant: Participant,
    *,
    record_allowed: bool,
    now: int | None = None,
    ends_at: int | None = None,
) -> str:
    return sign(
        settings,
        claims_for(
            settings, room, participant, record_allowed=record_allowed, now=now, ends_at=ends_at
        ),
    )


def end_meeting_algorithm(settings: Mapping[str, Any]) -> str:
    """How the deployment verifies the end-meeting token: like its own login tokens
    (HS256 with app_secret self-hosted, RS256 for JaaS) unless the admin chose RS256 with
    a dedicated key pair."""
    chosen = str(settings.get("end_meeting_algorithm") or "")
    if chosen:
        return chosen
    return "RS256" if is_jaas(settings) else "HS256"


def end_meeting_kid(settings: Mapping[str, Any]) -> str:
    # mod_muc_end_meeting refuses a token without kid: it fetches the key by it.
    if is_jaas(settings) and not settings.get("end_meeting_kid"):
        return jaas_kid(settings)
    return str(settings.get("end_meeting_kid") or settings.get("app_id") or "")


def system_token(settings: Mapping[str, Any], now: int | None = None) -> str:
    """Bearer token for mod_muc_end_meeting. The module verifies it with the main
    VirtualHost's token settings, so it must be signed the way that host signs its login
    tokens: HS256 with app_secret on a self-hosted (app_secret) host, RS256 with the JaaS
    key and its kid for JaaS; a host set up for a dedicated RS256 key pair gets
    end_meeting_algorithm = RS256 and end_meeting_private_key. Room '*' because the
    module acts on the room named in the request; it lives 60 s."""
    static = str(settings.get("end_meeting_token") or "")
    if static:
        return static
    now = int(time.time()) if now is None else now
    if is_jaas(settings):
        iss, aud, sub = JAAS_ISSUER, JAAS_AUDIENCE, str(settings.get("app_id") or "")
    else:
        iss = str(settings.get("issuer") or settings.get("app_id") or "")
        aud, sub = str(settings.get("audience") or "jitsi"), "*"
    claims = {
        "iss": iss,
        "aud": aud,
        "sub": sub,
        "room": "*",
        "iat": now,
        "nbf": now - _int(settings, "clock_skew_seconds", 60),
        "exp": now + 60,
    }
    headers = {"kid": end_meeting_kid(settings), "typ": "JWT"}
    algorithm = end_meeting_algorithm(settings)
    if algorithm == "HS256":
        key, field = settings.get("app_secret"), "app_secret"
    elif is_jaas(settings) and not settings.get("end_meeting_private_key"):
        key, field = settings.get("jaas_private_key"), "jaas_private_key"
    else:
        key, field = settings.get("end_meeting_private_key"), "end_meeting_private_key"
    try:
        if not key:
            raise KeyError(field)
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)
    except (KeyError, TypeError, ValueError, jwt.PyJWTError) as exc:
        raise BackendError(
            translations.gettext(
                "the end-meeting system token could not be signed; check %(field)s", field=field
            ),
            code="jitsi_end_key",
        ) from exc
