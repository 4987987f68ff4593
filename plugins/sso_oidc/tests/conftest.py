"""Fixtures for the OpenID Connect tests: one real OpenID provider per session and an app
configured for it."""

from __future__ import annotations

import pytest
from openid_provider import OpenIdProvider
from portal_testing import app_factory


@pytest.fixture(scope="session")
def openid_provider():
    provider = OpenIdProvider()
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def make_oidc_app(database_url, tmp_path, openid_provider):
    """Build an app configured for the provider plus `overrides`, pushed as the current app."""
    yield from app_factory(database_url, tmp_path, openid_provider.portal_config())


@pytest.fixture
def app(make_oidc_app):
    return make_oidc_app()


@pytest.fixture
def client(app):
    return app.test_client()
