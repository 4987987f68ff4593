"""Fixtures for the insp SSO tests: an app configured for insp, tokens as insp makes them,
and a real JWKS server on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

# The core's session fixtures (database_url) and app builder, shared with the core suite.
from conftest import FAKE, PASSWORD, _wipe, database_url, login, make_app, make_user  # noqa: E402, F401
from insp_tokens import BASE_CONFIG  # noqa: E402
from jwks_server import JwksServer  # noqa: E402

from portal.extensions import db  # noqa: E402


@pytest.fixture
def make_sso_app(database_url, tmp_path):  # noqa: F811 (the core fixture, by name)
    """Build an app with the insp settings plus `overrides`, pushed as the current app."""
    made = []

    def factory(**overrides):
        FAKE.reset()
        config = {**BASE_CONFIG, **overrides}
        application = make_app(database_url, tmp_path, **{k: v for k, v in config.items() if v is not None})
        ctx = application.app_context()
        ctx.push()
        made.append((application, ctx))
        return application

    yield factory
    for application, ctx in reversed(made):
        db.session.remove()
        ctx.pop()
        _wipe(application)


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
