"""Whatever an admin's browser posts to the LTI admin forms, the portal answers with a clear
4xx refusal (never a 500) and registers nothing, unless the form was a valid platform."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_lti_admin import platforms, post, sign_in_page

from portal.extensions import db

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIELDS = (
    "name",
    "issuer",
    "client_id",
    "auth_login_url",
    "auth_token_url",
    "key_set_url",
    "deployment_ids",
)
odd_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["https://lms.school.example/x", "http://127.0.0.1:1/x", "javascript:x"]),
    st.text(max_size=3).map(lambda s: "https://" + s),
)
platform_forms = st.dictionaries(st.sampled_from(FIELDS), odd_text, max_size=len(FIELDS))


@pytest.fixture
def admin_client(client, make_user):
    sign_in_page(client, make_user("admin"))
    return client


def _is_valid(fields: dict[str, str]) -> bool:
    from portal_lti import platforms as service

    try:
        service.check(service.PlatformForm.from_fields(fields))
    except Exception:
        return False
    return True


@FUZZ
@given(fields=platform_forms)
def test_any_platform_form_is_refused_clearly_unless_valid(admin_client, fields):
    before = len(platforms())
    response = post(admin_client, "/lti/admin/platforms", fields)
    if response.status_code == 303:
        assert _is_valid(fields)
        return
    assert response.status_code in (400, 409), response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert len(platforms()) == before


@FUZZ
@given(
    other_platform=st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
    deployment=st.text(max_size=300),
    action=st.sampled_from(["deployments", "deployments/remove"]),
)
def test_deployment_forms_never_fail_on_odd_input(
    admin_client, registered, other_platform, deployment, action
):
    """The registered platform has one deployment: removing is always refused (unknown, or
    the last one); adding succeeds only for one new word."""
    [row] = platforms()
    before = list(row.deployment_ids)
    target = row.id if other_platform is None else other_platform
    path = f"/lti/admin/platforms/{target}/{action}"
    response = post(admin_client, path, {"deployment_id": deployment})
    db.session.expire_all()
    [row] = platforms()
    if response.status_code == 303:
        word = deployment.strip()
        assert action == "deployments" and target == row.id
        assert word and " " not in word and word in row.deployment_ids
        # Hypothesis runs every example on the same fixtures: take the new deployment away
        # again, so the next example starts from the one-deployment platform it describes.
        removed = post(
            admin_client,
            f"/lti/admin/platforms/{row.id}/deployments/remove",
            {"deployment_id": word},
        )
        assert removed.status_code == 303
        db.session.expire_all()
        assert platforms()[0].deployment_ids == before
        return
    assert response.status_code in (400, 404), response.get_data(as_text=True)
    assert row.deployment_ids == before
