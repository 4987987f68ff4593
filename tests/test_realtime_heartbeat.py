"""The realtime server's heartbeat is sized for thousands of idle waiting pages on a busy
machine and configurable: what every client is told in the Engine.IO handshake (its
pingInterval / pingTimeout, in ms) is what PORTAL_REALTIME_PING_* say (docs/live.md)."""

from __future__ import annotations

import json

import pytest
import requests
from portal_testing import serving

pytestmark = pytest.mark.real_commits


def _handshake(url: str) -> dict:
    answer = requests.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=30)
    assert answer.status_code == 200
    return json.loads(answer.text[answer.text.index("{") :])


def test_the_default_heartbeat_tolerates_a_starved_minute(app):
    with serving(app) as url:
        handshake = _handshake(url)
    assert handshake["pingInterval"] == 25_000
    # python-socketio's own default (20 s) dropped 4,997 of 5,000 waiting pages in the rush.
    assert handshake["pingTimeout"] == 60_000


def test_the_heartbeat_follows_the_configuration(app):
    app.config.update(REALTIME_PING_INTERVAL_SECONDS=7, REALTIME_PING_TIMEOUT_SECONDS=90)
    with serving(app) as url:
        handshake = _handshake(url)
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (7_000, 90_000)
