"""What an app's start loads (bench/boot_cpu.py measures its CPU): a web worker, a Celery
worker and every CLI command build the app, so libraries that only some of them use are
loaded where they are used. Celery and kombu cost about a quarter of a start and
python-socketio's package (with aiohttp) a sixth; a process that never enqueues a job or
announces a live event must not pay for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from portal_testing import TEST_SECRET_KEY

_LOADED_BY_A_START = """
import json, sys
import portal
app = portal.create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": %r, "REDIS_URL": %r})
started = sorted({name.split(".")[0] for name in sys.modules})
with app.app_context():
    from portal import realtime, tasks
    realtime.emitter().manager  # the first announcement
    tasks.celery_of(app)  # the first job enqueued
announced = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"started": started, "announced": announced}))
"""


def _modules(tmp_path, redis_url: str = "") -> dict[str, list[str]]:
    env = dict(os.environ, PORTAL_INSTANCE_PATH=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_A_START % (TEST_SECRET_KEY, redis_url)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_a_started_app_loads_celery_and_socketio_only_when_it_first_needs_them(tmp_path):
    # The emitter's Redis manager is made without connecting (python-socketio connects on
    # the first publish), so any address will do here.
    loaded = _modules(tmp_path, redis_url="redis://127.0.0.1:1/0")
    for heavy in ("celery", "kombu", "socketio", "engineio", "aiohttp"):
        assert heavy not in loaded["started"], f"create_app loaded {heavy}"
    for needed in ("celery", "kombu", "socketio"):
        assert needed in loaded["announced"], f"{needed} was never loaded when it was needed"
