"""Whatever arrives at the redirect URI, the portal answers with a clear refusal (never a
500) and signs nobody in."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.core.models import User
from portal.extensions import db

params = st.dictionaries(
    st.sampled_from(["code", "state", "error", "error_description", "iss", "session_state"]),
    st.text(max_size=300),
    max_size=5,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=params)
def test_callback_with_any_parameters_is_refused_clearly(client, query):
    client.get("/sso/oidc/login", base_url="http://127.0.0.1:5000")  # a pending sign-in cookie
    response = client.get(
        "/sso/oidc/callback",
        query_string=query,
        base_url="http://127.0.0.1:5000",
        headers={"Accept": "application/json"},
    )
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert set(response.get_json()["error"]) >= {"code", "message"}
    assert db.session.execute(db.select(User)).first() is None
