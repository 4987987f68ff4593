"""Abuse limits: brute force, floods, oversized and malformed bodies, file bombs, traversal."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
from content_utils import make_pdf
from portal_testing import PASSWORD, make_app

from portal.core import login_guard
from portal.core.models import Media, Slide
from portal.extensions import db


@pytest.fixture
def frozen_clock(monkeypatch):
    """Move the login guard's time by hand: no sleeping, no wall-clock asserts."""
    now = {"t": 1_000_000.0}
    monkeypatch.setattr(login_guard, "clock", lambda: now["t"])
    return now


def _login(client, email, password):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_login_brute_force_is_slowed_per_account(client, make_user, frozen_clock):
    victim, bystander = make_user("student"), make_user("student")
    for _ in range(5):
        assert _login(client, victim.email, "wrong-password-x").status_code == 401
    locked = _login(client, victim.email, PASSWORD)  # even the right password waits
    assert locked.status_code == 429
    assert locked.get_json()["error"]["code"] == "login_locked"
    assert int(locked.headers["Retry-After"]) >= 1
    assert _login(client, bystander.email, PASSWORD).status_code == 200  # other accounts unaffected
    frozen_clock["t"] += 3  # first delay: 2 s
    assert _login(client, victim.email, "wrong-password-y").status_code == 401
    frozen_clock["t"] += 3  # second delay doubles: 4 s, so still locked
    assert _login(client, victim.email, PASSWORD).status_code == 429
    frozen_clock["t"] += 2
    assert _login(client, victim.email, PASSWORD).status_code == 200
    # Success clears the count: the next wrong password is an ordinary 401.
    assert _login(client, victim.email, "wrong-password-z").status_code == 401


def test_unknown_email_is_slowed_like_a_real_account(client, frozen_clock):
    answers = [
        _login(client, "nobody@tests.school", "wrong-password-x").status_code for _ in range(6)
    ]
    assert answers == [401] * 5 + [429]


def test_login_page_shows_the_lockout(client, make_user, frozen_clock):
    user = make_user("student")
    for _ in range(5):
        client.post("/login", data={"email": user.email, "password": "wrong-password-x"})
    page = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert page.status_code == 429
    assert b"too many failed sign-ins" in page.data


def test_lockout_is_shared_through_redis_between_workers(
    database_url, tmp_path, redis_url, make_user, frozen_clock
):
    user = make_user("student")
    config = {
        "REDIS_URL": redis_url,
        "SOCKETIO_CHANNEL": f"hardening-{uuid.uuid4().hex}",
        "LOGIN_RATE_LIMIT": "1000 per minute",
    }
    first, second = (
        make_app(database_url, tmp_path, **config),
        make_app(database_url, tmp_path, **config),
    )
    with first.app_context():
        for _ in range(5):
            assert _login(first.test_client(), user.email, "wrong-password-x").status_code == 401
    with second.app_context():
        assert _login(second.test_client(), user.email, PASSWORD).status_code == 429
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys(config["SOCKETIO_CHANNEL"] + ":*") or ["none"])


def test_login_rate_limit_per_address_still_applies(database_url, tmp_path, make_user):
    app = make_app(database_url, tmp_path, LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        codes = [
            _login(client, f"x{i}@tests.school", "wrong-password-x").status_code for i in range(4)
        ]
    assert codes == [401, 401, 401, 429]


def _upload(api, url, name, data):
    return api.client.post(
        url,
        data={"file": (io.BytesIO(data), name)},
        headers=api._headers(),
        content_type="multipart/form-data",
    )


def test_upload_flood_is_limited_per_person(app, school, login):
    app.config["UPLOAD_RATE_LIMIT"] = "3 per minute"
    teacher, student = login(school.teacher), login(school.student)
    url = f"/api/classes/{school.klass.id}/media"
    codes = [_upload(teacher, url, f"n{i}.pdf", make_pdf()).status_code for i in range(3)]
    codes.append(
        _upload(teacher, f"/api/classes/{school.klass.id}/slides", "s.pdf", make_pdf()).status_code
    )
    assert codes == [201, 201, 201, 429]
    assert (
        _upload(student, url, "mine.pdf", make_pdf()).status_code == 201
    )  # another person's budget
    assert db.session.execute(db.select(db.func.count(Media.id))).scalar_one() == 4
    assert db.session.execute(db.select(db.func.count(Slide.id))).scalar_one() == 0


def test_chat_flood_is_refused(app, school, login):
    app.config["CHAT_RATE_LIMIT"] = "5 per minute"
    student = login(school.student)
    url = f"/api/schedules/{school.schedule.id}/chat"
    codes = [student.post(url, json={"body": f"hi {i}"}).status_code for i in range(7)]
    assert codes[:5] == [201] * 5 and codes[5:] == [429, 429], codes


def test_oversized_body_is_413_json(app, school, login):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    teacher = login(school.teacher)
    big = teacher.client.post(
        "/api/classes",
        data=json.dumps({"title": "x" * 100_000}),
        headers={**teacher._headers(), "Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert big.get_json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[1, 2]",
        b"null",
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"title": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ],
)
def test_malformed_json_is_400(school, login, raw):
    teacher = login(school.teacher)
    response = teacher.client.post(
        "/api/classes", data=raw, headers={**teacher._headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.data[:200]
    assert response.get_json()["error"]["code"] in {
        "invalid_json",
        "validation_error",
        "bad_request",
    }


def _pdf_with_page_count(count: int) -> bytes:
    """A tiny PDF whose page tree claims `count` pages (a 'page bomb')."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
    ]
    return _assemble(objects)


def _pdf_with_repeated_kids(count: int) -> bytes:
    """One page object referenced `count` times: a page bomb with an honest /Count."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b"3 0 R " * count + b"] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
    ]
    return _assemble(objects)


def _pdf_with_deep_nesting(depth: int) -> bytes:
    nested = b"[" * depth + b"]" * depth
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Deep " + nested + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Extra " + nested + b" >>",
    ]
    return _assemble(objects)


def _assemble(objects: list[bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"\0" * 20_000_000)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["slides", "media"])
@pytest.mark.parametrize(
    ("name", "payload", "codes"),
    [
        ("pages.pdf", lambda: _pdf_with_page_count(10**9), {"too_many_pages"}),
        ("lying.pdf", lambda: _pdf_with_page_count(7), {"invalid_pdf"}),
        ("kids.pdf", lambda: _pdf_with_repeated_kids(5_000), {"too_many_pages"}),
        ("deep.pdf", lambda: _pdf_with_deep_nesting(20_000), {"invalid_pdf", "too_many_pages"}),
        (
            "bomb.zip",
            _zip_bomb,
            {"not_a_pdf", "unsupported_type", "invalid_type", "type_not_allowed"},
        ),
        (
            "bomb.pdf",
            _zip_bomb,
            {"not_a_pdf", "unsupported_type", "invalid_type", "type_not_allowed"},
        ),
    ],
)
def test_file_bombs_are_refused_and_nothing_is_stored(school, login, kind, name, payload, codes):
    teacher = login(school.teacher)
    response = _upload(teacher, f"/api/classes/{school.klass.id}/{kind}", name, payload())
    assert response.status_code in (400, 413, 415), response.get_json()
    assert response.get_json()["error"]["code"] in codes, response.get_json()
    assert db.session.execute(db.select(db.func.count(Media.id))).scalar_one() == 0
    assert db.session.execute(db.select(db.func.count(Slide.id))).scalar_one() == 0


@pytest.mark.parametrize(
    "name",
    [
        "../../../etc/passwd.pdf",
        "..\\..\\windows\\system32\\x.pdf",
        "/abs/path.pdf",
        "a\x00b.pdf",
        "%2e%2e%2fsecret.pdf",
        'a"; x=".pdf',
        "<img src=x onerror=alert(1)>.pdf",
    ],
)
def test_path_traversal_in_file_names_is_neutralised(app, school, login, name, tmp_path):
    teacher = login(school.teacher)
    response = _upload(teacher, f"/api/classes/{school.klass.id}/media", name, make_pdf())
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()["filename"]
    assert (
        "/" not in stored and "\\" not in stored and ".." not in stored.rsplit(".", 1)[0].strip("_")
    )
    assert not set(stored) & set('\r\n\x00"<>;')
    assert stored.endswith(".pdf")
    # Whatever the name, the file lands inside the storage folder and nowhere else.
    root = app.config["STORAGE_DIR"]
    media = db.session.get(Media, response.get_json()["id"])
    import os

    assert os.path.realpath(os.path.join(root, media.storage_key)).startswith(
        os.path.realpath(root) + os.sep
    )
    assert not (tmp_path.parent / "etc").exists()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/blocks", {"user_id": 2**40, "scope": "site", "reason": "x"}),
        ("POST", "/api/classes/{cid}/enrolments", {"user_ids": [2**40]}),
        ("PUT", "/api/classes/{cid}/slides/order", {"slide_ids": [2**63]}),
        ("GET", "/api/classes/{cid}/media?schedule_id=99999999999", None),
        ("GET", "/api/classes/99999999999999999999", None),
    ],
)
def test_ids_beyond_the_database_range_are_refused_not_crashed(school, login, method, url, body):
    """PostgreSQL integers are 32-bit: larger ids are a 400/404, never a driver error."""
    response = login(school.admin).client.open(
        url.format(cid=school.klass.id),
        method=method,
        json=body,
        headers=login(school.admin)._headers(),
    )
    assert response.status_code in (400, 404), response.get_json()
