"""A test double of the prosody side of Jitsi token auth, written from its documentation
and code (jitsi-meet resources/prosody-plugins/luajwtjitsi.lib.lua, token/util.lib.lua,
lib-jitsi-meet doc/tokens.md; jitsi-contrib token_affiliation). It is deliberately
independent of PyJWT's validation so that it refuses exactly what prosody refuses:

luajwtjitsi.verify: three segments; header typ == "JWT"; header alg == the configured
algorithm; valid signature; `exp` / `nbf`, when present, must be JSON numbers ("exp must be
number"); now >= exp is refused; now < nbf is refused; `iss` present and accepted ('*'
accepts any); `aud` present and accepted.
util.verify_token: with asap_require_room_claim (default true) a `room` claim is required.
util.verify_room: without domain verification the MUC room node must equal
string.lower(room) unless room == '*'; with it (multi-tenant, JaaS) the address must be
"[lower(sub)]lower(room)@<muc domain>" (sub '*' matches any tenant), and without a tenant
"lower(room)@<muc_mapper_domain_prefix>.<sub>": sub must be the XMPP domain, no port.
doc/tokens.md: every context.user field must be a string (null or numbers break it).
mod_token_affiliation: owner when affiliation is owner/moderator/teacher or moderator is
true / "true"; member otherwise.
mod_muc_lobby_rooms: a room whose moderator turned the lobby on is members-only: a joining
member (not an owner) is refused with registration-required and the client knocks, unless
jitsi-contrib token_lobby_bypass finds `context.user.lobby_bypass` true in the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


class TokenRejected(Exception):
    """Prosody would answer not-allowed (or the room join would be refused)."""


@dataclass
class ProsodyConfig:
    algorithm: str  # signature_algorithm: "HS256" (app_secret) or "RS256" (asap_key_server)
    key: str  # app_secret, or the public key PEM served by the key server
    accepted_issuers: list[str]
    accepted_audiences: list[str] = field(default_factory=lambda: ["*"])
    require_room_claim: bool = True
    enable_domain_verification: bool = False
    muc_domain: str = ""  # e.g. conference.8x8.vc (domain verification only)
    muc_domain_prefix: str = "conference"  # muc_mapper_domain_prefix (docker-jitsi-meet: muc)


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _is_number(value: Any) -> bool:
    # A Lua number: JSON booleans and strings are not numbers.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _verify_claim(claim: Any, accepted: list[str]) -> bool:
    return any(a == "*" or claim == a for a in accepted)


def _check_signature(config: ProsodyConfig, signing_input: bytes, signature: bytes) -> bool:
    if config.algorithm == "HS256":
        expected = hmac.new(config.key.encode(), signing_input, hashlib.sha256).digest()
        return hmac.compare_digest(expected, signature)
    if config.algorithm == "RS256":
        public_key = serialization.load_pem_public_key(config.key.encode())
        try:
            public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True
    raise TokenRejected("Algorithm not supported")


def verify_token(token: str, config: ProsodyConfig, now: float | None = None) -> tuple[dict, dict]:
    """luajwtjitsi.verify + util.verify_token: returns (header, claims) or raises."""
    now = time.time() if now is None else now
    segments = [s for s in token.split(".") if s]
    if len(segments) != 3:
        raise TokenRejected("Invalid token")
    try:
        header = json.loads(_b64url_decode(segments[0]))
        body = json.loads(_b64url_decode(segments[1]))
        signature = _b64url_decode(segments[2])
    except ValueError as exc:
        raise TokenRejected("Invalid header or body") from exc
    if header.get("typ") != "JWT":
        raise TokenRejected("Invalid typ")
    if header.get("alg") != config.algorithm:
        raise TokenRejected("Invalid or incorrect alg")
    if config.algorithm == "RS256" and not header.get("kid"):
        raise TokenRejected("'kid' claim is missing")
    if not _check_signature(config, f"{segments[0]}.{segments[1]}".encode(), signature):
        raise TokenRejected("Invalid signature")
    if "exp" in body and not _is_number(body["exp"]):
        raise TokenRejected("exp must be number")
    if "nbf" in body and not _is_number(body["nbf"]):
        raise TokenRejected("nbf must be number")
    if "exp" in body and now >= body["exp"]:
        raise TokenRejected("Not acceptable by exp")
    if "nbf" in body and now < body["nbf"]:
        raise TokenRejected("Not acceptable by nbf")
    if body.get("iss") is None:
        raise TokenRejected("'iss' claim is missing")
    if not _verify_claim(body["iss"], config.accepted_issuers):
        raise TokenRejected("invalid 'iss' claim")
    if body.get("aud") is None:
        raise TokenRejected("'aud' claim is missing")
    if not _verify_claim(body["aud"], config.accepted_audiences):
        raise TokenRejected("invalid 'aud' claim")
    if config.require_room_claim and body.get("room") is None:
        raise TokenRejected("'room' claim is missing")
    user = (body.get("context") or {}).get("user")
    if user is not None:
        for key in ("id", "name", "email", "avatar"):
            if key in user and not isinstance(user[key], str):
                raise TokenRejected(f"context.user.{key} must be a string")
    return header, body


def verify_room(claims: dict, room_address: str, config: ProsodyConfig) -> None:
    """util.verify_room for a MUC address like room@conference.domain (or [tenant]room@...)."""
    node = room_address.split("@", 1)[0]
    auth_room = claims.get("room")
    if not config.enable_domain_verification:
        if auth_room and node != str(auth_room).lower() and auth_room != "*":
            raise TokenRejected("room does not match the token's room claim")
        return
    tenant, room = None, node
    if node.startswith("[") and "]" in node:
        tenant, room = node[1:].split("]", 1)
    room_to_check = room if auth_room == "*" else str(auth_room)
    sub = str(claims.get("sub"))
    bare = room_address.split("/", 1)[0]
    if tenant is not None:
        tenant_to_check = tenant if sub == "*" else sub
        expected = f"[{tenant_to_check.lower()}]{room_to_check.lower()}@{config.muc_domain}"
    else:
        domain = config.muc_domain if sub == "*" else f"{config.muc_domain_prefix}.{sub}"
        expected = f"{room_to_check.lower()}@{domain.lower()}"
    if bare != expected:
        raise TokenRejected(f"room address {bare} does not match {expected}")


def affiliation(claims: dict) -> str:
    """mod_token_affiliation's decision for the occupant holding these claims."""
    user = (claims.get("context") or {}).get("user") or {}
    if user.get("affiliation") in ("owner", "moderator", "teacher"):
        return "owner"
    if user.get("moderator") in (True, "true"):
        return "owner"
    return "member"


def admit(
    token: str,
    config: ProsodyConfig,
    room_address: str,
    *,
    may_moderate: bool,
    now: float | None = None,
) -> dict:
    """Connect with the token and join the room; `may_moderate` is what the portal allows
    this person. A token that would make a student an owner is refused like a forgery."""
    _, claims = verify_token(token, config, now=now)
    verify_room(claims, room_address, config)
    if affiliation(claims) == "owner" and not may_moderate:
        raise TokenRejected("a participant without moderator rights would become a moderator")
    if affiliation(claims) != "owner" and may_moderate:
        raise TokenRejected("the teacher would not be a moderator")
    features = (claims.get("context") or {}).get("features") or {}
    if features.get("recording") in (True, "true") and not may_moderate:
        raise TokenRejected("a participant without moderator rights could record")
    return claims


def enter(
    token: str,
    config: ProsodyConfig,
    room_address: str,
    *,
    may_moderate: bool,
    lobby_on: bool,
    now: float | None = None,
) -> str:
    """Where the occupant lands: "room", or "lobby" (knocking) when the room's lobby is on."""
    claims = admit(token, config, room_address, may_moderate=may_moderate, now=now)
    user = (claims.get("context") or {}).get("user") or {}
    if not lobby_on or affiliation(claims) == "owner" or user.get("lobby_bypass") in (True, "true"):
        return "room"
    return "lobby"
