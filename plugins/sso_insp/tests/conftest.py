"""Fixtures for the insp SSO tests: an app configured for insp, tokens as insp makes them,
and a real JWKS server on 127.0.0.1."""

from __future__ import annotations

import pytest
from insp_tokens import BASE_CONFIG
from jwks_server import JwksServer
from portal_testing import app_factory


@pytest.fixture
def make_sso_app(database_url, tmp_path):
    """Build an app with the insp settings plus `overrides`, pushed as the current app."""
    yield from app_factory(database_url, tmp_path, BASE_CONFIG)


@pytest.fixture
def app(make_sso_app):
    return make_sso_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def jwks_server():
    server = JwksServer()
    server.start()
    yield server
    server.stop()
