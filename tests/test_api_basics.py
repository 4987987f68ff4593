"""API conventions every endpoint shares: errors, OpenAPI, limits, headers, probes, logs."""

from __future__ import annotations

import logging

import pytest

from portal.api.framework import ENDPOINTS


def test_openapi_lists_every_api_route(client, app):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    import re

    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/openapi.json":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (
                f"{method} {rule.rule} missing from OpenAPI"
            )
    create = doc["paths"]["/api/classes"]["post"]
    schema_name = create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit(
        "/", 1
    )[-1]
    assert "starts_at" in doc["components"]["schemas"][schema_name]["required"]
    assert len(ENDPOINTS) >= 30


def test_validation_errors_name_the_field(school, login):
    response = login(school.teacher).post("/api/classes", json={"title": "", "duration_minutes": 0})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    fields = {d["field"] for d in error["details"]}
    assert {"title", "duration_minutes", "starts_at"} <= fields


def test_non_json_body_is_a_clear_400(school, login):
    api = login(school.teacher)
    response = api.client.post(
        "/api/classes",
        data="not json",
        headers={**api._headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_unknown_fields_are_rejected_not_ignored(school, login):
    response = login(school.student).patch(
        f"/api/users/{school.student.id}", json={"is_admin": True}
    )
    assert response.status_code == 400


def test_unknown_api_path_is_json_404_and_page_is_html(client):
    api = client.get("/api/nothing-here")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
    page = client.get("/nothing-here", headers={"Accept": "text/html"})
    assert (
        page.status_code == 404
        and b"Something is not right" in page.data
        and b"Traceback" not in page.data
    )


def test_oversized_body_is_413(client, app):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = client.post(
        "/api/auth/login", data=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_security_headers_and_request_id(client):
    response = client.get("/login")
    for header in (
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "X-Frame-Options",
        "Referrer-Policy",
    ):
        assert header in response.headers
    assert (
        "'unsafe-inline'"
        not in response.headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    )
    assert len(response.headers["X-Request-ID"]) >= 8
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc12345-from-proxy"})
    assert echoed.headers["X-Request-ID"] == "abc12345-from-proxy"


def test_health_and_readiness(client, fake_config):
    from portal.core import backends
    from portal.extensions import db

    assert client.get("/healthz").get_json() == {"status": "ok"}
    backends.check_health(fake_config)
    db.session.commit()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.get_json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["backends"][0]["ok"] is True


def test_readiness_reports_database_down(tmp_path):
    from portal_testing import make_app

    broken = make_app("postgresql+psycopg://nobody:wrong@127.0.0.1:1/none", tmp_path)
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unreachable"


@pytest.mark.own_app  # adds a route: needs a new app of its own
@pytest.mark.real_commits
def test_unexpected_error_is_a_json_500_without_internals(app, client, caplog):
    @app.get("/api/boom-for-test")
    def boom():
        raise RuntimeError("secret internals password=hunter2")

    with caplog.at_level(logging.ERROR):
        response = client.get("/api/boom-for-test")
    assert response.status_code == 500
    assert "internals" not in response.get_data(as_text=True)
    assert response.get_json()["error"]["request_id"]


def test_logs_never_contain_passwords_or_tokens(client, make_user, caplog):
    from portal_testing import PASSWORD

    user = make_user()
    with caplog.at_level(logging.INFO):
        tokens = client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        ).get_json()
        client.get(
            "/api/auth/me?token=" + tokens["access_token"],
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        logging.getLogger("urllib3.test").warning(
            "GET https://bbb/api/create?name=x&checksum=abcdef0123"
        )
        logging.getLogger("portal.test").info(
            "user sent password=%s and token %s", PASSWORD, tokens["access_token"]
        )
    captured = caplog.text
    assert "portal.access" in captured  # the access log was written ...
    assert PASSWORD not in captured  # ... without secrets
    assert tokens["access_token"] not in captured
    assert tokens["access_token"].split(".")[1] not in captured
    assert "abcdef0123" not in captured
