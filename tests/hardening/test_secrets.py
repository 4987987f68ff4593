"""Secrets are encrypted at rest, never returned by the API and never logged.

One test drives the flows that handle credentials (password sign-in, bearer tokens, an
admin saving backend secrets, a BigBlueButton start and join with checksums, a Jitsi join
with a signed JWT, an SSO sign-in with the school website's token, a calendar feed URL, a
signed download link) while capturing every log record and everything written to
stdout/stderr, then greps the capture for each secret.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from bbb_simulator import BBBSimulator
from content_utils import make_pdf
from portal_testing import PASSWORD, make_app

from portal.core.models import BackendConfig
from portal.extensions import db


@pytest.fixture
def bbb_sim():
    simulator = BBBSimulator(secret="bbb-secret-" + uuid.uuid4().hex)
    yield simulator
    simulator.close()


SSO = {
    "SSO_INSP_ISSUER": "https://insp.school.test",
    "SSO_INSP_AUDIENCE": "https://portal.school.test",
    "SSO_INSP_HS256_SECRET": "insp-secret-" + uuid.uuid4().hex,
    "SSO_INSP_LOGIN_URL": "https://insp.school.test/in",
}


def test_no_secret_is_returned_or_logged(database_url, tmp_path, make_user, bbb_sim, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    app = make_app(database_url, tmp_path, **SSO)
    secrets: dict[str, str] = {"password": PASSWORD}
    with app.app_context():
        admin, teacher, student = make_user("admin"), make_user("teacher"), make_user("student")
        client = app.test_client()

        def bearer(user):
            answer = client.post(
                "/api/auth/login", json={"email": user.email, "password": PASSWORD}
            ).get_json()
            secrets[f"access-{user.id}"] = answer["access_token"]
            secrets[f"refresh-{user.id}"] = answer["refresh_token"]
            client._cookies.clear()
            return {"Authorization": f"Bearer {answer['access_token']}"}

        as_admin, as_teacher, as_student = bearer(admin), bearer(teacher), bearer(student)

        # Backend secrets: accepted, stored encrypted, never echoed.
        bbb_secret, jitsi_secret = bbb_sim.secret, "jitsi-app-secret-" + uuid.uuid4().hex
        secrets |= {
            "bbb secret": bbb_secret,
            "jitsi secret": jitsi_secret,
            "sso secret": SSO["SSO_INSP_HS256_SECRET"],
        }
        bbb = client.post(
            "/api/admin/backends",
            headers=as_admin,
            json={
                "name": "BBB",
                "backend": "bbb",
                "settings": {
                    "url": bbb_sim.api_url,
                    "secret": bbb_secret,
                    "checksum_algorithm": "sha256",
                    "timeout_seconds": 2,
                },
            },
        )
        jitsi = client.post(
            "/api/admin/backends",
            headers=as_admin,
            json={
                "name": "Jitsi",
                "backend": "jitsi",
                "settings": {
                    "domain": "meet.school.test",
                    "app_id": "portal",
                    "app_secret": jitsi_secret,
                },
            },
        )
        assert bbb.status_code == 201 and jitsi.status_code == 201, (
            bbb.get_json(),
            jitsi.get_json(),
        )
        for row in db.session.execute(db.select(BackendConfig)).scalars():
            stored = str(row.settings)
            assert bbb_secret not in stored and jitsi_secret not in stored, "secret stored in clear"
        answers = [
            client.get("/api/admin/backends", headers=as_admin),
            client.get(f"/api/admin/backends/{bbb.get_json()['id']}", headers=as_admin),
            client.get(f"/api/admin/backends/{jitsi.get_json()['id']}", headers=as_admin),
            client.get("/api/backends", headers=as_teacher),
            bbb,
            jitsi,
            client.get("/api/openapi.json"),
        ]

        # A class on each backend: start, join (checksums and JWTs go into the join URLs).
        join_urls = []
        soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        for config in (bbb.get_json(), jitsi.get_json()):
            klass = client.post(
                "/api/classes",
                headers=as_teacher,
                json={
                    "title": f"On {config['name']}",
                    "starts_at": soon,
                    "duration_minutes": 60,
                    "backend_config_id": config["id"],
                },
            ).get_json()
            client.post(
                f"/api/classes/{klass['id']}/enrolments",
                headers=as_teacher,
                json={"user_ids": [student.id]},
            )
            schedule = client.get(
                f"/api/classes/{klass['id']}/schedules", headers=as_teacher
            ).get_json()[0]
            started = client.post(f"/api/schedules/{schedule['id']}/start", headers=as_teacher)
            joined = client.post(f"/api/schedules/{schedule['id']}/join", headers=as_student)
            assert started.status_code == 200 and joined.status_code == 200, (
                started.get_json(),
                joined.get_json(),
            )
            for answer in (started, joined):
                body = answer.get_json()
                target = body.get("target", body)
                join_urls.append(target.get("url") or "")
                for value in (
                    (target.get("embed") or {}).values()
                    if isinstance(target.get("embed"), dict)
                    else []
                ):
                    if isinstance(value, str) and value.startswith("eyJ") and value.count(".") == 2:
                        secrets[f"embedded jwt {len(secrets)}"] = value
        for url in filter(None, join_urls):
            query = parse_qs(urlsplit(url).query)
            for key in ("checksum", "jwt"):
                for value in query.get(key, []):
                    secrets[f"{key} {len(secrets)}"] = value
        assert any(k.startswith("checksum") for k in secrets), join_urls
        assert any(k.startswith(("jwt", "embedded")) for k in secrets), join_urls

        # SSO sign-in with the school website's signed token.
        now = int(time.time())
        sso_token = jwt.encode(
            {
                "iss": SSO["SSO_INSP_ISSUER"],
                "aud": SSO["SSO_INSP_AUDIENCE"],
                "sub": "insp-42",
                "jti": uuid.uuid4().hex,
                "iat": now,
                "nbf": now,
                "exp": now + 120,
                "email": "sso.person@tests.school",
                "name": "Sso Person",
                "role": "student",
            },
            SSO["SSO_INSP_HS256_SECRET"],
            algorithm="HS256",
        )
        secrets["sso token"] = sso_token
        assert client.get(f"/sso/insp/login?token={sso_token}").status_code in (302, 303)
        client._cookies.clear()

        # Capability URLs: the calendar feed and a signed download link.
        feed = client.get("/api/calendar/feed", headers=as_student).get_json()
        feed_token = next(part for part in feed["url"].split("/") if part.endswith(".ics"))[:-4]
        secrets["calendar token"] = feed_token
        assert client.get(f"/api/calendar/feed/{feed_token}.ics").status_code == 200
        class_id = client.get("/api/classes", headers=as_teacher).get_json()["items"][0]["id"]
        media = client.post(
            f"/api/classes/{class_id}/media",
            headers=as_teacher,
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(make_pdf()), "a.pdf")},
        ).get_json()
        link = client.get(f"/api/media/{media['id']}/download", headers=as_teacher).get_json()[
            "url"
        ]
        download_token = urlsplit(link).path.rsplit("/", 1)[-1]
        secrets["download token"] = download_token
        assert client.get(urlsplit(link).path).status_code == 200
        # A failing request logs an exception: it must not carry secrets either.
        client.post(
            "/api/auth/login", json={"email": student.email, "password": "wrong " + PASSWORD}
        )

        api_text = "\n".join(a.get_data(as_text=True) for a in answers)
        db.session.remove()

    captured = capfd.readouterr()
    logs = "\n".join(
        [caplog.text, *(r.getMessage() for r in caplog.records), captured.out, captured.err]
    )
    assert len(caplog.records) > 20, "the flows above should have logged"
    for name, value in secrets.items():
        assert len(value) >= 8, name
        assert value not in logs, f"{name} leaked into the logs"
        if not name.startswith(("access", "refresh")):
            assert value not in api_text, f"{name} returned by the API"
    print(f"\nsecrets: {len(secrets)} secrets checked against {len(caplog.records)} log records")
