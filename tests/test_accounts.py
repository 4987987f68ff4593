"""Accounts: password reset links, invitations, sign-up with approval, CSV import.

What a person sees: the email that arrives (through the notifications outbox), the answers
of the API, and whether signing in works afterwards."""

from __future__ import annotations

import re
import time

import itsdangerous.timed
import pytest
from portal_testing import PASSWORD, sign_in

from portal.core import notifications, outbox
from portal.core.models import AuditLog, User
from portal.extensions import db

NEW_PASSWORD = "a-brand-new-password-42"


@pytest.fixture(autouse=True)
def _clear_outbox():
    outbox.SENT.clear()
    yield
    outbox.SENT.clear()


def mails_to(address: str, kind: str | None = None) -> list:
    notifications.dispatch_due()
    return [
        m
        for m in outbox.SENT
        if m.recipient == address and (kind is None or m.metadata.get("kind") == kind)
    ]


def link_token(message) -> str:
    found = re.search(r"/password/set/(\S+)", message.text)
    assert found, message.text
    return found.group(1)


def can_sign_in(client, email: str, password: str) -> bool:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    client._cookies.clear()
    return response.status_code == 200


def test_forgotten_password_link_sets_a_new_password_once(client, make_user):
    user = make_user("student")
    old_session = sign_in(client, user)
    answer = client.post("/api/auth/password-reset", json={"email": user.email.upper()})
    assert answer.status_code == 202
    [mail] = mails_to(user.email, "password_reset")
    assert mail.subject == "Reset your password"
    assert "List-Unsubscribe" not in str(mail.metadata)
    token = link_token(mail)

    used = client.post(
        "/api/auth/password-link", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert used.status_code == 200, used.get_json()
    assert can_sign_in(client, user.email, NEW_PASSWORD)
    assert not can_sign_in(client, user.email, PASSWORD)
    # Whoever held a session before (perhaps the reason for the reset) is signed out.
    assert old_session.get("/api/auth/me").status_code == 401

    again = client.post(
        "/api/auth/password-link", json={"token": token, "new_password": "yet-another-password"}
    )
    assert again.status_code == 400
    assert again.get_json()["error"]["code"] == "link_used"
    assert can_sign_in(client, user.email, NEW_PASSWORD)


def test_changing_the_password_voids_a_pending_reset_link(client, make_user):
    user = make_user("student")
    client.post("/api/auth/password-reset", json={"email": user.email})
    token = link_token(mails_to(user.email, "password_reset")[0])
    api = sign_in(client, user)
    changed = api.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200
    refused = client.post(
        "/api/auth/password-link", json={"token": token, "new_password": "attacker-password-1"}
    )
    assert refused.get_json()["error"]["code"] == "link_used"


def test_unknown_and_malformed_addresses_get_the_same_answer_and_no_mail(client, make_user):
    user = make_user("student")
    known = client.post("/api/auth/password-reset", json={"email": user.email})
    unknown = client.post("/api/auth/password-reset", json={"email": "nobody@tests.school"})
    malformed = client.post("/api/auth/password-reset", json={"email": "not an address"})
    assert known.status_code == unknown.status_code == malformed.status_code == 202
    assert known.get_json() == unknown.get_json() == malformed.get_json()
    notifications.dispatch_due()
    assert [m.recipient for m in outbox.SENT] == [user.email]


def test_disabled_accounts_get_no_reset_mail(client, make_user):
    user = make_user("student")
    user.is_active = False
    db.session.commit()
    assert client.post("/api/auth/password-reset", json={"email": user.email}).status_code == 202
    assert mails_to(user.email) == []


def test_an_expired_reset_link_is_refused_with_a_clear_error(client, make_user, monkeypatch):
    user = make_user("student")
    client.post("/api/auth/password-reset", json={"email": user.email})
    two_hours_ago = int(time.time()) - 7200
    with monkeypatch.context() as patch:
        # The email is composed (and its link signed) two hours ago.
        patch.setattr(
            itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: two_hours_ago
        )
        token = link_token(mails_to(user.email, "password_reset")[0])
    expired = client.post(
        "/api/auth/password-link", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert expired.status_code == 400
    assert expired.get_json()["error"]["code"] == "link_expired"
    assert "expired" in expired.get_json()["error"]["message"]
    assert can_sign_in(client, user.email, PASSWORD)


def test_a_forged_link_is_refused(client, make_user):
    make_user("student")
    forged = client.post(
        "/api/auth/password-link", json={"token": "abc.def.ghi", "new_password": NEW_PASSWORD}
    )
    assert forged.status_code == 400
    assert forged.get_json()["error"]["code"] == "invalid_link"


def test_reset_mails_per_account_are_capped_whatever_the_requests(client, make_user):
    user = make_user("student")
    answers = {
        client.post("/api/auth/password-reset", json={"email": user.email}).status_code
        for _ in range(5)
    }
    assert answers == {202}
    assert len(mails_to(user.email, "password_reset")) == 3


def test_reset_requests_are_rate_limited_per_client(app, client, make_user):
    app.config["PASSWORD_RESET_RATE_LIMIT"] = "2 per minute"
    statuses = [
        client.post("/api/auth/password-reset", json={"email": "x@tests.school"}).status_code
        for _ in range(3)
    ]
    assert statuses == [202, 202, 429]


def test_an_invited_person_sets_their_password_and_a_reinvite_voids_the_old_link(client, make_user):
    admin = sign_in(client, make_user("admin"))
    invited = admin.post(
        "/api/admin/invitations",
        json={"email": "New.Teacher@tests.school", "name": "New Teacher", "role": "teacher"},
    )
    assert invited.status_code == 201, invited.get_json()
    body = invited.get_json()
    assert (body["role"], body["is_active"], body["account_status"]) == (
        "teacher",
        False,
        "invited",
    )
    first = link_token(mails_to("new.teacher@tests.school", "account_invitation")[0])
    outbox.SENT.clear()
    assert (
        admin.post(
            "/api/admin/invitations",
            json={"email": "new.teacher@tests.school", "name": "New Teacher", "role": "teacher"},
        ).status_code
        == 201
    )
    second = link_token(mails_to("new.teacher@tests.school", "account_invitation")[0])

    old = client.post(
        "/api/auth/password-link", json={"token": first, "new_password": NEW_PASSWORD}
    )
    assert old.get_json()["error"]["code"] == "link_used"
    accepted = client.post(
        "/api/auth/password-link", json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert accepted.status_code == 200
    assert accepted.get_json()["is_active"] is True
    assert accepted.get_json()["account_status"] is None
    assert can_sign_in(client, "new.teacher@tests.school", NEW_PASSWORD)
    # Accepted: inviting the address again is a conflict, not a new link.
    again = admin.post(
        "/api/admin/invitations",
        json={"email": "new.teacher@tests.school", "name": "New Teacher"},
    )
    assert again.status_code == 409


def test_an_invited_account_cannot_sign_in_or_reset_before_accepting(client, make_user):
    admin = sign_in(client, make_user("admin"))
    admin.post("/api/admin/invitations", json={"email": "inv@tests.school", "name": "Inv"})
    outbox.SENT.clear()
    client.post("/api/auth/password-reset", json={"email": "inv@tests.school"})
    assert mails_to("inv@tests.school", "password_reset") == []


def test_only_admins_invite(client, make_user):
    teacher = sign_in(client, make_user("teacher"))
    refused = teacher.post("/api/admin/invitations", json={"email": "x@tests.school", "name": "X"})
    assert refused.status_code == 403
    assert db.session.execute(db.select(User).filter_by(email="x@tests.school")).first() is None


def test_sign_up_is_closed_by_default(client):
    answer = client.post(
        "/api/auth/sign-up",
        json={"email": "me@tests.school", "name": "Me", "password": NEW_PASSWORD},
    )
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "sign_up_closed"


@pytest.mark.parametrize("approve", [True, False])
def test_open_sign_up_waits_for_an_admin_who_approves_or_refuses(client, make_user, approve):
    admin = sign_in(client, make_user("admin"))
    assert (
        admin.patch("/api/admin/settings", json={"sign_up": "open_with_approval"}).status_code
        == 200
    )
    asked = client.post(
        "/api/auth/sign-up",
        json={"email": "me@tests.school", "name": "Me Myself", "password": NEW_PASSWORD},
    )
    assert asked.status_code == 202
    assert not can_sign_in(client, "me@tests.school", NEW_PASSWORD)
    [pending] = admin.get("/api/admin/sign-ups").get_json()
    assert (pending["email"], pending["account_status"]) == ("me@tests.school", "pending")

    decided = admin.post(f"/api/admin/sign-ups/{pending['id']}", json={"approve": approve})
    assert decided.status_code == 200
    kind = "sign_up_approved" if approve else "sign_up_refused"
    assert len(mails_to("me@tests.school", kind)) == 1
    assert can_sign_in(client, "me@tests.school", NEW_PASSWORD) is approve
    assert admin.get("/api/admin/sign-ups").get_json() == []
    twice = admin.post(f"/api/admin/sign-ups/{pending['id']}", json={"approve": True})
    assert twice.status_code == 409


def test_sign_up_with_a_taken_address_gets_the_same_answer_and_changes_nothing(client, make_user):
    existing = make_user("student")
    admin = sign_in(client, make_user("admin"))
    admin.patch("/api/admin/settings", json={"sign_up": "open_with_approval"})
    answer = client.post(
        "/api/auth/sign-up",
        json={"email": existing.email, "name": "Impostor", "password": NEW_PASSWORD},
    )
    assert answer.status_code == 202
    assert can_sign_in(client, existing.email, PASSWORD)
    assert admin.get("/api/admin/sign-ups").get_json() == []


def test_a_bad_sign_up_setting_is_refused(client, make_user):
    admin = sign_in(client, make_user("admin"))
    answer = admin.patch("/api/admin/settings", json={"sign_up": "wide_open"})
    assert answer.status_code == 400


CSV_GOOD_AND_BAD = (
    "email,name,role,phone,timezone\n"
    "new.one@tests.school,New One,student,,Europe/Paris\n"
    "{existing},Renamed Person,teacher,+33612345678,\n"
    "{unchanged},{unchanged_name},student,,\n"
    "broken-address,Broken,student,,\n"
    "other@tests.school,Other,headmaster,,\n"
    "NEW.ONE@tests.school,Twice,student,,\n"
)


def _csv(existing, unchanged) -> str:
    return CSV_GOOD_AND_BAD.format(
        existing=existing.email.upper(), unchanged=unchanged.email, unchanged_name=unchanged.name
    )


def test_csv_dry_run_shows_what_each_line_would_do(client, make_user):
    admin = sign_in(client, make_user("admin"))
    existing, unchanged = make_user("student"), make_user("student")
    answer = admin.post("/api/admin/users/import", json={"csv": _csv(existing, unchanged)})
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert report["applied"] is False
    got = [(r["line"], r["action"]) for r in report["rows"]]
    assert got == [
        (2, "create"),
        (3, "update"),
        (4, "unchanged"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
    ]
    by_line = {r["line"]: r for r in report["rows"]}
    assert set(by_line[3]["changes"]) == {"name", "role", "phone"}
    assert "email" in by_line[5]["message"]
    assert "role" in by_line[6]["message"]
    assert "line 2" in by_line[7]["message"]
    assert report["counts"] == {"create": 1, "update": 1, "unchanged": 1, "error": 3}


def test_csv_with_a_bad_row_writes_nothing(client, make_user):
    admin = sign_in(client, make_user("admin"))
    existing, unchanged = make_user("student"), make_user("student")
    users_before = db.session.execute(db.select(db.func.count(User.id))).scalar_one()
    answer = admin.post(
        "/api/admin/users/import", json={"csv": _csv(existing, unchanged), "dry_run": False}
    )
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "csv_rows_invalid"
    assert error["details"]["counts"]["error"] == 3
    db.session.expire_all()
    assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == users_before
    assert db.session.get(User, existing.id).name == existing.name
    assert db.session.get(User, existing.id).role == "student"


def test_csv_without_errors_creates_and_updates_and_keeps_passwords(client, make_user):
    admin_user = make_user("admin")
    admin = sign_in(client, admin_user)
    existing = make_user("student")
    text = (
        "Email,Name,Role\n"
        "fresh@tests.school,Fresh Face,teacher\n"
        f"{existing.email.upper()},Changed Name,student\n"
    )
    answer = admin.post("/api/admin/users/import", json={"csv": text, "dry_run": False})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["applied"] is True
    db.session.expire_all()
    fresh = db.session.execute(db.select(User).filter_by(email="fresh@tests.school")).scalar_one()
    assert (fresh.name, fresh.role, fresh.password_hash) == ("Fresh Face", "teacher", None)
    assert db.session.get(User, existing.id).name == "Changed Name"
    assert can_sign_in(client, existing.email, PASSWORD)
    actions = set(
        db.session.execute(
            db.select(AuditLog.action).where(AuditLog.actor_id == admin_user.id)
        ).scalars()
    )
    assert {"user.create", "user.import_update", "user.import"} <= actions


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("mail,name,role\na@tests.school,A,student\n", "csv_header"),
        ("email,name,role,shoe_size\na@tests.school,A,student,42\n", "csv_header"),
    ],
)
def test_csv_with_a_bad_header_is_refused(client, make_user, text, code):
    admin = sign_in(client, make_user("admin"))
    answer = admin.post("/api/admin/users/import", json={"csv": text})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == code


def test_csv_import_cannot_demote_the_importing_admin(client, make_user):
    admin_user = make_user("admin")
    admin = sign_in(client, admin_user)
    text = f"email,name,role\n{admin_user.email},Me,student\n"
    report = admin.post("/api/admin/users/import", json={"csv": text}).get_json()
    assert report["rows"][0]["action"] == "error"


def test_only_admins_import(client, make_user):
    teacher = sign_in(client, make_user("teacher"))
    answer = teacher.post(
        "/api/admin/users/import", json={"csv": "email,name,role\na@tests.school,A,student\n"}
    )
    assert answer.status_code == 403


def test_the_import_service_itself_writes_nothing_when_a_line_is_bad(app, make_user):
    """The page commits whatever the service applied: the service must not apply a file
    with an error, whoever calls it."""
    from portal.core import user_import

    admin = make_user("admin")
    text = "email,name,role\ngood@tests.school,Good,student\nbad-address,Bad,student\n"
    report = user_import.import_users(admin, text, apply=True)
    db.session.commit()
    assert report.applied is False and report.errors == 1
    assert db.session.execute(db.select(User).filter_by(email="good@tests.school")).first() is None
