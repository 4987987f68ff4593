"""Authorization sweep of the LTI and OpenID Connect plugins' pages: every endpoint of the
lti, lti_admin and sso_oidc blueprints x anonymous, student, teacher, admin.

Rows are keyed by Flask endpoint; the test fails when app.url_map has an endpoint of those
blueprints without a row, so a new page cannot ship without deciding who may open it. Each
cell is the status the person gets (302 = sent to the portal's sign-in page). The launch
endpoints are public by design (the LMS's signed id_token says who the person is): they
answer everyone the same clear refusal when called without a launch.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from portal_testing import PASSWORD

PORTAL = "http://127.0.0.1:5000"
BLUEPRINTS = ("lti", "lti_admin", "sso_oidc")
ROLES = ("anonymous", "student", "teacher", "admin")


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # {cid} = the teacher's class, {pid} = a registered platform
    expected: str  # one status per role, in ROLES order
    data: tuple[tuple[str, str], ...] = ()


ROWS: dict[str, Row] = {
    "lti.jwks": Row("GET", "/lti/jwks", "200 200 200 200"),
    "lti.login": Row("POST", "/lti/login", "400 400 400 400"),
    "lti.launch": Row("POST", "/lti/launch", "401 401 401 401"),
    "lti.not_ready": Row("GET", "/lti/not-ready", "200 200 200 200"),
    "lti.setup": Row("GET", "/lti/setup?launch=forged", "404 404 404 404"),
    "lti.finish_setup": Row("POST", "/lti/setup", "404 404 404 404", (("launch", "forged"),)),
    "lti.deep_link": Row("GET", "/lti/deep-link?launch=forged", "404 404 404 404"),
    "lti.finish_deep_link": Row(
        "POST", "/lti/deep-link", "404 404 404 404", (("launch", "forged"),)
    ),
    "lti.grades_page": Row("GET", "/lti/grades/{cid}", "401 404 200 200"),
    "lti_admin.platforms": Row("GET", "/lti/admin", "302 403 403 200"),
    "lti_admin.add_platform": Row("POST", "/lti/admin/platforms", "302 403 403 400"),
    "lti_admin.add_deployment": Row(
        "POST",
        "/lti/admin/platforms/{pid}/deployments",
        "302 403 403 303",
        (("deployment_id", "d-9"),),
    ),
    "lti_admin.remove_deployment": Row(
        "POST",
        "/lti/admin/platforms/{pid}/deployments/remove",
        "302 403 403 404",
        (("deployment_id", "unknown"),),
    ),
    "lti_admin.confirm_remove": Row("GET", "/lti/admin/platforms/{pid}/remove", "302 403 403 200"),
    "lti_admin.remove_platform": Row(
        "POST", "/lti/admin/platforms/{pid}/remove", "302 403 403 303"
    ),
    "lti_admin.rotate_key": Row("POST", "/lti/admin/key", "302 403 403 303"),
    # The OpenID provider is not configured in this app: its pages say so to everyone.
    "sso_oidc.login": Row("GET", "/sso/oidc/login", "404 404 404 404"),
    "sso_oidc.callback": Row("GET", "/sso/oidc/callback?code=x&state=y", "404 404 404 404"),
}


def test_every_endpoint_of_the_plugins_pages_has_a_row(app):
    endpoints = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in BLUEPRINTS
    }
    assert endpoints, "the plugins' blueprints are not registered"
    assert sorted(endpoints - set(ROWS)) == []
    assert sorted(set(ROWS) - endpoints) == []


@pytest.fixture
def people(app, make_user, registered):
    from portal_lti.models import LtiPlatform

    from portal.extensions import db
    from portal.plugins import services

    teacher = make_user("teacher")
    klass = services.create_class(teacher.id, "Maths", services.now())
    db.session.commit()
    platform_id = db.session.execute(db.select(LtiPlatform.id)).scalar_one()
    users = {"student": make_user("student"), "teacher": teacher, "admin": make_user("admin")}
    return users, {"cid": klass.id, "pid": platform_id}


def _client_as(app, user):
    client = app.test_client()
    if user is not None:
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD}, base_url=PORTAL
        )
        assert response.status_code == 302
    return client


@pytest.mark.parametrize("endpoint", sorted(ROWS))
def test_who_gets_what_from_each_plugin_page(app, people, endpoint):
    users, ids = people
    row = ROWS[endpoint]
    got = {}
    for role in ROLES:
        client = _client_as(app, users.get(role))
        cookie = client.get_cookie("csrf_access_token", domain="127.0.0.1")
        data = dict(row.data)
        if cookie is not None and row.method == "POST":
            data["csrf_token"] = cookie.value
        response = client.open(
            row.path.format(**ids),
            method=row.method,
            data=data if row.method == "POST" else None,
            base_url=PORTAL,
            headers={"Accept": "text/html"},
        )
        got[role] = response.status_code
        if response.status_code == 302:
            assert "/login?next=" in response.headers["Location"], (role, endpoint)
        assert response.status_code < 500, response.get_data(as_text=True)
    expected = dict(zip(ROLES, map(int, row.expected.split()), strict=True))
    assert got == expected
