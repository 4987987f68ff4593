"""Issued tokens pass the prosody verifier, and the verifier refuses what prosody refuses."""

from __future__ import annotations

import base64
import json
import re
import time

import jwt
import pytest
from jitsi_prosody_verifier import ProsodyConfig, TokenRejected, admit, verify_token
from jitsi_testkit import APP_SECRET, JAAS_APP_ID, jaas_settings, self_hosted_settings
from portal_jitsi_backend import tokens

from portal.plugins import Participant

TEACHER = Participant(
    user_id=7,
    name="Ada Teacher",
    email="ada@school.test",
    role="moderator",
    avatar_url="https://portal.test/a.png",
)
STUDENT = Participant(user_id=12, name="Bob Student", email="bob@school.test", role="viewer")
ROOM = "algebra-abcdefghijklmnopqrstuvwxyz"
PROSODY = ProsodyConfig(
    algorithm="HS256", key=APP_SECRET, accepted_issuers=["portal"], accepted_audiences=["jitsi"]
)
ADDRESS = f"{ROOM}@conference.meet.school.test"


def _payload(token: str) -> dict:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _forge(claims: dict, secret: str = APP_SECRET, headers: dict | None = None) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers or {"typ": "JWT"})


def test_teacher_token_is_accepted_with_every_claim_right():
    now = int(time.time())
    token = tokens.participant_token(
        self_hosted_settings(), ROOM, TEACHER, record_allowed=True, now=now
    )
    header, _ = verify_token(token, PROSODY)
    assert header == {"alg": "HS256", "typ": "JWT"}
    claims = admit(token, PROSODY, ADDRESS, may_moderate=True)
    assert claims["iss"] == "portal"
    assert claims["aud"] == "jitsi"
    assert claims["sub"] == "meet.school.test"
    assert claims["room"] == ROOM
    for key in ("iat", "nbf", "exp"):
        assert type(claims[key]) is int  # numbers, never quoted
    assert claims["iat"] == now
    assert now - 120 <= claims["nbf"] < now  # small clock-skew allowance
    assert claims["exp"] == now + 10800
    assert claims["context"]["user"] == {
        "id": "7",
        "name": "Ada Teacher",
        "email": "ada@school.test",
        "avatar": "https://portal.test/a.png",
        "moderator": True,
        "affiliation": "owner",
    }
    assert claims["context"]["features"]["recording"] is True
    assert claims["context"]["features"]["livestreaming"] is False


def test_a_guest_token_has_no_moderator_and_never_a_users_id():
    guest = Participant(user_id=-3, name="Ines (guest)", email="", role="viewer", guest=True)
    token = tokens.participant_token(self_hosted_settings(), ROOM, guest, record_allowed=True)
    user = admit(token, PROSODY, ADDRESS, may_moderate=False)["context"]["user"]
    assert user["moderator"] is False and user["name"] == "Ines (guest)"
    assert user["id"] == "-3"


def test_student_token_has_no_moderator_and_no_recording():
    token = tokens.participant_token(self_hosted_settings(), ROOM, STUDENT, record_allowed=True)
    claims = admit(token, PROSODY, ADDRESS, may_moderate=False)
    user = claims["context"]["user"]
    assert user["moderator"] is False
    assert user["affiliation"] == "member"
    assert "avatar" not in user  # absent rather than null: null breaks the client
    assert all(isinstance(user[k], str) for k in ("id", "name", "email"))
    assert claims["context"]["features"]["recording"] is False
    # Would the same token let the student moderate? The verifier says no.
    with pytest.raises(TokenRejected, match="teacher would not be a moderator"):
        admit(token, PROSODY, ADDRESS, may_moderate=True)


def test_teacher_cannot_record_a_class_that_is_not_recorded():
    token = tokens.participant_token(self_hosted_settings(), ROOM, TEACHER, record_allowed=False)
    assert (
        admit(token, PROSODY, ADDRESS, may_moderate=True)["context"]["features"]["recording"]
        is False
    )


def test_without_token_affiliation_the_moderator_flag_still_decides():
    token = tokens.participant_token(
        self_hosted_settings(token_affiliation=False), ROOM, STUDENT, record_allowed=False
    )
    claims = admit(token, PROSODY, ADDRESS, may_moderate=False)
    assert "affiliation" not in claims["context"]["user"]


def test_token_for_another_room_is_refused():
    token = tokens.participant_token(
        self_hosted_settings(), "other-room", STUDENT, record_allowed=False
    )
    with pytest.raises(TokenRejected, match="room"):
        admit(token, PROSODY, ADDRESS, may_moderate=False)


def test_verifier_refuses_what_prosody_refuses():
    now = int(time.time())
    good = tokens.claims_for(self_hosted_settings(), ROOM, STUDENT, record_allowed=False, now=now)
    admit(_forge(good), PROSODY, ADDRESS, may_moderate=False)  # the baseline passes

    cases = {
        "exp must be number": {**good, "exp": str(good["exp"])},
        "nbf must be number": {**good, "nbf": str(good["nbf"])},
        "'aud' claim is missing": {k: v for k, v in good.items() if k != "aud"},
        "'iss' claim is missing": {k: v for k, v in good.items() if k != "iss"},
        "'room' claim is missing": {k: v for k, v in good.items() if k != "room"},
        "invalid 'iss' claim": {**good, "iss": "someone-else"},
        "invalid 'aud' claim": {**good, "aud": "other-service"},
        "Not acceptable by exp": {**good, "exp": now - 1},
        "Not acceptable by nbf": {**good, "nbf": now + 600},
        "would become a moderator": {
            **good,
            "context": {**good["context"], "user": {**good["context"]["user"], "moderator": True}},
        },
        "context.user.avatar must be a string": {
            **good,
            "context": {**good["context"], "user": {**good["context"]["user"], "avatar": None}},
        },
    }
    for message, claims in cases.items():
        with pytest.raises(TokenRejected, match=re.escape(message)):
            admit(_forge(claims), PROSODY, ADDRESS, may_moderate=False)
    with pytest.raises(TokenRejected, match="Invalid signature"):
        admit(
            _forge(good, secret="not-the-secret-at-all-0123456789-abcdef"),
            PROSODY,
            ADDRESS,
            may_moderate=False,
        )
    with pytest.raises(TokenRejected, match="Invalid typ"):
        admit(_forge(good, headers={"typ": "JWS"}), PROSODY, ADDRESS, may_moderate=False)
    # The wildcard room claim is accepted for any room, as prosody does.
    admit(
        _forge({**good, "room": "*"}),
        PROSODY,
        "any-room@conference.meet.school.test",
        may_moderate=False,
    )


def test_jaas_tokens_are_rs256_with_the_app_kid_and_match_the_tenant_room(jaas_keys):
    private, public = jaas_keys
    settings = jaas_settings(private)
    jaas = ProsodyConfig(
        algorithm="RS256",
        key=public,
        accepted_issuers=["chat"],
        accepted_audiences=["jitsi"],
        enable_domain_verification=True,
        muc_domain="conference.8x8.vc",
    )
    token = tokens.participant_token(settings, ROOM, TEACHER, record_allowed=True)
    header, _ = verify_token(token, jaas)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": f"{JAAS_APP_ID}/key-1"}
    claims = admit(token, jaas, f"[{JAAS_APP_ID}]{ROOM}@conference.8x8.vc", may_moderate=True)
    assert (claims["iss"], claims["aud"], claims["sub"], claims["room"]) == (
        "chat",
        "jitsi",
        JAAS_APP_ID,
        ROOM,
    )
    assert claims["context"]["user"]["moderator"] is True
    assert "affiliation" not in claims["context"]["user"]
    assert claims["context"]["features"]["recording"] is True
    student = tokens.participant_token(settings, ROOM, STUDENT, record_allowed=True)
    assert admit(student, jaas, f"[{JAAS_APP_ID}]{ROOM}@conference.8x8.vc", may_moderate=False)
    with pytest.raises(TokenRejected, match="does not match"):
        admit(
            student, jaas, f"[vpaas-magic-cookie-other]{ROOM}@conference.8x8.vc", may_moderate=False
        )
    assert tokens.room_path(settings, ROOM) == f"{JAAS_APP_ID}/{ROOM}"


def test_bad_keys_are_a_clear_backend_error():
    from portal.plugins import BackendError

    with pytest.raises(BackendError, match="check the backend's keys"):
        tokens.participant_token(
            jaas_settings("not a pem key"), ROOM, STUDENT, record_allowed=False
        )


def test_room_names_are_stable_unguessable_and_valid_for_jitsi():
    key = "portal-3-17-0123456789abcdef0123"
    name = tokens.room_name(key, "Algèbre 2 — Groupe B", "secret-one")
    assert name == tokens.room_name(key, "Algèbre 2 — Groupe B", "secret-one")
    assert re.fullmatch(r"[a-z0-9-]+", name)
    assert name.startswith("algebre-2-groupe-b-")
    assert "portal-3-17" not in name
    assert (
        tokens.room_name("portal-3-18-0123456789abcdef0123", "Algèbre 2 — Groupe B", "secret-one")
        != name
    )
    assert tokens.room_name(key, "Algèbre 2 — Groupe B", "secret-two") != name
    assert len(name.rsplit("-", 1)[1]) == 26
    assert tokens.room_name(key, "???", "s").startswith("class-")


def test_sub_is_the_xmpp_domain_so_domain_verification_accepts_the_token():
    """prosody's enable_domain_verification (on by default in current jitsi-meet) checks
    the room address against conference.<sub>: sub is the XMPP domain, never host:port."""
    verifying = ProsodyConfig(
        algorithm="HS256",
        key=APP_SECRET,
        accepted_issuers=["portal"],
        accepted_audiences=["jitsi"],
        enable_domain_verification=True,
    )
    with_port = self_hosted_settings(domain="meet.school.test:8443")
    claims = admit(
        tokens.participant_token(with_port, ROOM, STUDENT, record_allowed=False),
        verifying,
        ADDRESS,
        may_moderate=False,
    )
    assert claims["sub"] == "meet.school.test"

    # docker-jitsi-meet: the web client at localhost:8443, prosody's domain meet.jitsi, MUC
    # muc.meet.jitsi.
    docker = ProsodyConfig(
        algorithm="HS256",
        key=APP_SECRET,
        accepted_issuers=["portal"],
        accepted_audiences=["jitsi"],
        enable_domain_verification=True,
        muc_domain_prefix="muc",
    )
    settings = self_hosted_settings(
        domain="localhost:8443", xmpp_domain="meet.jitsi", muc_domain="muc.meet.jitsi"
    )
    token = tokens.participant_token(settings, ROOM, TEACHER, record_allowed=False)
    assert admit(token, docker, f"{ROOM}@muc.meet.jitsi", may_moderate=True)["sub"] == "meet.jitsi"
    assert tokens.muc_domain(settings) == "muc.meet.jitsi"
    assert tokens.muc_domain(with_port) == "conference.meet.school.test"


def test_tokens_expire_soon_after_the_scheduled_end():
    now = int(time.time())
    settings = self_hosted_settings()  # lifetime 3 h, grace 30 min
    ends_in_an_hour = now + 3600
    claims = tokens.claims_for(
        settings, ROOM, STUDENT, record_allowed=False, now=now, ends_at=ends_in_an_hour
    )
    assert claims["exp"] == ends_in_an_hour + 1800
    # A class of a whole day still gets at most the lifetime.
    assert (
        tokens.claims_for(
            settings, ROOM, STUDENT, record_allowed=False, now=now, ends_at=now + 86400
        )["exp"]
        == now + 10800
    )
    # The class runs over: a join an hour after its scheduled end still gets a working token.
    late = tokens.participant_token(
        settings, ROOM, STUDENT, record_allowed=False, ends_at=now - 3600
    )
    claims = admit(late, PROSODY, ADDRESS, may_moderate=False)
    assert claims["exp"] > now + 1700
    # Without a known end (meetings created before this rule), the lifetime applies.
    assert (
        tokens.claims_for(settings, ROOM, STUDENT, record_allowed=False, now=now)["exp"]
        == now + 10800
    )
