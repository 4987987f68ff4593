"""Fixtures for the SFU tests: the core's fixtures (portal_testing, registered by the root
conftest.py), plus real SFU worker processes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from portal_native_sfu.channel import WorkerPool

# Fast failure detection so "vanished client" tests finish in seconds, not the 30 s defaults.
FAST_WORKER_ARGS = [
    "--connect-timeout",
    "8",
    "--media-timeout",
    "3",
    "--consent-interval",
    "0.5",
    "--consent-failures",
    "4",
    "--pli-interval",
    "0.3",
]


@pytest.fixture(scope="session")
def sfu_pool():
    run_dir = Path(tempfile.mkdtemp(prefix="psfu-"))
    pool = WorkerPool(
        run_dir=run_dir / "run",
        workers=2,
        recording_dir=run_dir / "rec",
        extra_args=FAST_WORKER_ARGS,
    )
    pool.start_all()
    yield pool
    pool.stop_started()
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def sfu(app, school, sfu_pool):
    """The school's class runs on the SFU (a settingless native_sfu config, like the demo)."""
    from portal.core.models import BackendConfig
    from portal.extensions import db

    app.extensions["native_sfu.pool"] = sfu_pool
    config = BackendConfig(
        name="Built-in video", backend="native_sfu", enabled=True, is_default=False, settings={}
    )
    db.session.add(config)
    db.session.flush()
    school.klass.backend_config_id = config.id
    db.session.commit()
    school.sfu_config = config
    school.pool = sfu_pool
    yield school
    # The workers outlive the test; the next test's occurrence may have the same id (SQLite
    # reuses ids after the wipe) and so the same room key: it must not find this test's
    # publishers and viewers there, however this test ended.
    for index in range(sfu_pool.workers):
        for room_id in sfu_pool.call(None, "stats", index=index)["rooms"]:
            sfu_pool.call(room_id, "close_room", index=index)
