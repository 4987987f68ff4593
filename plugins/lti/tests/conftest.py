"""Fixtures for the LTI tool: an LMS double on 127.0.0.1 registered with the portal."""

from __future__ import annotations

import pytest
from platform_double import Platform
from portal_testing import serving

from portal.plugins import services


@pytest.fixture
def platform():
    lms = Platform()
    lms.start()
    yield lms
    lms.stop()


@pytest.fixture
def registered(app, platform):
    """The LMS registered as `portal lti add-platform` does it."""
    from portal_lti.models import LtiPlatform
    from portal_lti.tool import signing_key

    reg = platform.registration()
    with app.app_context(), services.unit_of_work():
        services.session().add(
            LtiPlatform(
                name="School LMS",
                issuer=reg["issuer"],
                client_id=reg["client_id"],
                auth_login_url=reg["auth_login_url"],
                auth_token_url=reg["auth_token_url"],
                key_set_url=reg["key_set_url"],
                deployment_ids=[reg["deployment_id"]],
            )
        )
        signing_key()
    return platform


@pytest.fixture
def lms(app, registered):
    """The registered LMS with the portal served over HTTP, so the LMS can fetch the tool's
    JWKS (token requests, deep-link responses); tests using it need real commits."""
    with serving(app) as url:
        registered.tool_jwks_url = url + "/lti/jwks"
        yield registered
