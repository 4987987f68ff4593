"""Fixtures for the Jitsi plugin's tests: the core's fixtures (portal_testing, registered by
the root conftest.py) plus a Jitsi backend configuration and keys."""

from __future__ import annotations

import pytest
from jitsi_testkit import rsa_pair, self_hosted_settings, use_jitsi


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
