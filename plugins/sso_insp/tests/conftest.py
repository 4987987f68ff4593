"""Fixtures for the insp SSO tests: an app configured for insp, tokens as insp makes them,
and a real JWKS server on 127.0.0.1."""

from __future__ import annotations

import pytest
from fake_backend import FAKE
from insp_tokens import BASE_CONFIG
from jwks_server import JwksServer
from portal_testing import make_app, wipe_database

from portal.extensions import db


@pytest.fixture
def make_sso_app(database_url, tmp_path):
    """Build an app with the insp settings plus `overrides`, pushed as the current app."""
    made = []

    def factory(**overrides):
        FAKE.reset()
        config = {**BASE_CONFIG, **overrides}
        application = make_app(
            database_url, tmp_path, **{k: v for k, v in config.items() if v is not None}
        )
        ctx = application.app_context()
        ctx.push()
        made.append((application, ctx))
        return application

    yield factory
    for application, ctx in reversed(made):
        db.session.remove()
        ctx.pop()
        wipe_database(application)


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
