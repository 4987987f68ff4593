"""The admins' LTI page: only admins reach it; a platform is registered with every field
checked (a refused form keeps what was typed and says why), deployments are added and
removed, a platform is removed after a confirmation, the tool's key is rotated with the
previous key still published; every change is audit-logged, as the CLI's."""

from __future__ import annotations

import pytest
from platform_double import DEPLOYMENT
from portal_testing import PASSWORD

from portal.core.models import AuditLog
from portal.extensions import db

PORTAL = "http://127.0.0.1:5000"


def sign_in_page(client, user) -> None:
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, base_url=PORTAL
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def csrf(client) -> str:
    cookie = client.get_cookie("csrf_access_token", domain="127.0.0.1")
    return cookie.value if cookie else ""


def post(client, path: str, data: dict, **headers):
    return client.post(
        path,
        data={**data, "csrf_token": csrf(client)},
        base_url=PORTAL,
        headers={"Accept": "text/html", **headers},
    )


def page_text(client) -> str:
    response = client.get("/lti/admin", base_url=PORTAL, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def platforms():
    from portal_lti.models import LtiPlatform

    return db.session.execute(db.select(LtiPlatform)).scalars().all()


def audit_actions() -> list[str]:
    return [a.action for a in db.session.execute(db.select(AuditLog)).scalars()]


def form_of(platform, **changes) -> dict[str, str]:
    reg = platform.registration()
    fields = {
        "name": "School Moodle",
        "issuer": reg["issuer"],
        "client_id": reg["client_id"],
        "auth_login_url": reg["auth_login_url"],
        "auth_token_url": reg["auth_token_url"],
        "key_set_url": reg["key_set_url"],
        "deployment_ids": reg["deployment_id"],
    }
    return {**fields, **changes}


@pytest.fixture
def admin_client(client, make_user):
    sign_in_page(client, make_user("admin", "Ada Admin"))
    return client


@pytest.mark.parametrize("role", ["student", "teacher"])
def test_only_admins_reach_the_lti_page(client, make_user, role):
    sign_in_page(client, make_user(role))
    response = client.get("/lti/admin", base_url=PORTAL, headers={"Accept": "text/html"})
    assert response.status_code == 403
    response = post(client, "/lti/admin/key", {})
    assert response.status_code == 403


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/lti/admin", base_url=PORTAL)
    assert response.status_code == 302
    assert "/login?next=/lti/admin" in response.headers["Location"]


def test_admin_area_links_the_lti_page(admin_client):
    for path in ("/admin", "/admin/users"):
        body = admin_client.get(path, base_url=PORTAL).get_data(as_text=True)
        assert 'href="/lti/admin"' in body and "LMS platforms (LTI)" in body


def test_admin_registers_a_platform_and_sees_it_with_the_urls_to_enter(admin_client, platform):
    response = post(admin_client, "/lti/admin/platforms", form_of(platform))
    assert response.status_code == 303
    [row] = platforms()
    assert (row.name, row.issuer, row.deployment_ids) == (
        "School Moodle",
        platform.issuer,
        [DEPLOYMENT],
    )
    body = page_text(admin_client)
    assert "School Moodle is registered." in admin_client.get(
        response.headers["Location"], base_url=PORTAL
    ).get_data(as_text=True)
    for url in ("/lti/login", "/lti/launch", "/lti/jwks", platform.registration()["key_set_url"]):
        assert url in body
    assert "lti.platform" in audit_actions()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "", "“Name” must be filled in"),
        ("client_id", "  ", "“Client id” must be filled in"),
        ("issuer", "moodle.school.example", "Issuer (platform id) must be an https:// address"),
        ("auth_token_url", "http://lms.school.example/token", "must be an https:// address"),
        ("key_set_url", "ftp://lms.school.example/jwks", "must be an https:// address"),
        ("deployment_ids", "", "“Deployment ids” must be filled in"),
        ("deployment_ids", "one two", "one word"),
        ("name", "x" * 201, "longer than 200 characters"),
    ],
)
def test_a_wrong_field_is_refused_readably_and_nothing_typed_is_lost(
    admin_client, platform, field, value, words
):
    fields = form_of(platform, **{field: value})
    response = post(admin_client, "/lti/admin/platforms", fields)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert words in body
    for name, typed in fields.items():
        if typed.strip() and name != field:
            assert typed in body, name
    assert platforms() == []


def test_the_same_issuer_and_client_id_twice_is_refused(admin_client, registered):
    response = post(admin_client, "/lti/admin/platforms", form_of(registered, name="Again"))
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "already registered" in body and 'value="Again"' in body
    assert len(platforms()) == 1


def test_deployments_are_added_and_removed(admin_client, registered):
    [row] = platforms()
    response = post(
        admin_client, f"/lti/admin/platforms/{row.id}/deployments", {"deployment_id": "d-2"}
    )
    assert response.status_code == 303
    db.session.refresh(row)
    assert row.deployment_ids == sorted([DEPLOYMENT, "d-2"])
    response = post(
        admin_client,
        f"/lti/admin/platforms/{row.id}/deployments/remove",
        {"deployment_id": DEPLOYMENT},
    )
    assert response.status_code == 303
    db.session.refresh(row)
    assert row.deployment_ids == ["d-2"]
    # The last one stays: a platform without deployments could never launch.
    response = post(
        admin_client, f"/lti/admin/platforms/{row.id}/deployments/remove", {"deployment_id": "d-2"}
    )
    assert response.status_code == 400
    assert "at least one deployment id" in response.get_data(as_text=True)
    assert {"lti.deployment_added", "lti.deployment_removed"} <= set(audit_actions())


def test_a_platform_is_removed_only_once_confirmed(admin_client, registered):
    [row] = platforms()
    confirm = admin_client.get(f"/lti/admin/platforms/{row.id}/remove", base_url=PORTAL)
    assert confirm.status_code == 200 and "Remove School LMS?" in confirm.get_data(as_text=True)
    response = post(admin_client, f"/lti/admin/platforms/{row.id}/remove", {})
    assert response.status_code == 303 and platforms() != []
    response = post(admin_client, f"/lti/admin/platforms/{row.id}/remove", {"confirm": "yes"})
    assert response.status_code == 303
    assert platforms() == []
    assert "lti.platform_removed" in audit_actions()


def test_rotation_keeps_the_previous_key_in_the_jwks(admin_client, registered):
    def kids():
        return [k["kid"] for k in admin_client.get("/lti/jwks", base_url=PORTAL).get_json()["keys"]]

    [before] = kids()
    response = post(admin_client, "/lti/admin/key", {})
    assert response.status_code == 303
    after = kids()
    assert before in after and len(after) == 2
    assert "lti.key_rotated" in audit_actions()


def test_a_form_from_another_site_is_refused(admin_client, platform):
    response = post(
        admin_client,
        "/lti/admin/platforms",
        form_of(platform),
        Origin="https://evil.example",
    )
    assert response.status_code == 400
    assert "sent from another site" in response.get_data(as_text=True)
    assert platforms() == []


def test_the_cli_and_the_page_refuse_the_same_plain_http_address(app, platform):
    if "lti" not in app.cli.commands:
        app.extensions["portal.pm"].hook.register_commands(cli=app.cli)  # as `portal` does
    runner = app.test_cli_runner()
    reg = platform.registration()
    result = runner.invoke(
        args=[
            "lti",
            "add-platform",
            "--name",
            "LMS",
            "--issuer",
            "http://lms.school.example",
            "--client-id",
            reg["client_id"],
            "--auth-login-url",
            reg["auth_login_url"],
            "--auth-token-url",
            reg["auth_token_url"],
            "--key-set-url",
            reg["key_set_url"],
            "--deployment-id",
            "d-1",
        ]
    )
    assert result.exit_code != 0
    assert "must be an https:// address" in str(result.exception) + result.output
    assert platforms() == []


def test_the_cli_registers_rotates_and_prints_the_same_urls(app, platform):
    if "lti" not in app.cli.commands:
        app.extensions["portal.pm"].hook.register_commands(cli=app.cli)
    runner = app.test_cli_runner()
    reg = platform.registration()
    args = ["lti", "add-platform", "--name", "LMS", "--issuer", reg["issuer"]]
    for option in ("client_id", "auth_login_url", "auth_token_url", "key_set_url"):
        args += ["--" + option.replace("_", "-"), reg[option]]
    result = runner.invoke(args=[*args, "--deployment-id", "d-1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=[*args, "--deployment-id", "d-2"])
    assert result.exit_code == 0, result.output
    [row] = platforms()
    assert row.deployment_ids == ["d-1", "d-2"]
    assert runner.invoke(args=["lti", "rotate-key"]).exit_code == 0
    urls = runner.invoke(args=["lti", "tool-config"]).output
    assert "/lti/login" in urls and "/lti/jwks" in urls
    assert {"lti.platform", "lti.deployment_added", "lti.key_rotated"} <= set(audit_actions())
