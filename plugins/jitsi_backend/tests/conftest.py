"""Fixtures for the Jitsi plugin's tests: the core's fixtures (tests/conftest.py) plus a
Jitsi backend configuration and keys."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
_ROOT_CONFTEST = HERE.parents[2] / "tests" / "conftest.py"
_spec = importlib.util.spec_from_file_location("portal_core_test_fixtures", _ROOT_CONFTEST)
_core = importlib.util.module_from_spec(_spec)
sys.modules["portal_core_test_fixtures"] = _core
_spec.loader.exec_module(_core)

# Re-export the core fixtures so pytest finds them for the tests in this directory.
app = _core.app
client = _core.client
database_url = _core.database_url
redis_url = _core.redis_url
make_user = _core.make_user
login = _core.login
fake_config = _core.fake_config
school = _core.school
Api = _core.Api

from jitsi_testkit import rsa_pair, self_hosted_settings, use_jitsi  # noqa: E402


@pytest.fixture(scope="session")
def jaas_keys() -> tuple[str, str]:
    return rsa_pair()


@pytest.fixture(scope="session")
def system_keys() -> tuple[str, str]:
    return rsa_pair()


@pytest.fixture
def jitsi_school(school):
    """The `school` fixture with its class moved to a self-hosted Jitsi configuration."""
    return use_jitsi(school, self_hosted_settings())
