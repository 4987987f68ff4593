"""Fixtures for the SFU tests: the core's fixtures, plus real SFU worker processes."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT_TESTS = Path(__file__).resolve().parents[3] / "tests"
sys.path.insert(0, str(ROOT_TESTS))
sys.path.insert(0, str(Path(__file__).resolve().parent))



def _core_fixtures():
    # Load the core's tests/conftest.py under its own name ("conftest" is this file).
    import importlib.util

    spec = importlib.util.spec_from_file_location("portal_core_conftest", ROOT_TESTS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_core = _core_fixtures()
app = _core.app
client = _core.client
database_url = _core.database_url
fake_config = _core.fake_config
login = _core.login
make_user = _core.make_user
redis_url = _core.redis_url
school = _core.school

from portal_native_sfu.channel import WorkerPool  # noqa: E402

# Fast failure detection so "vanished client" tests finish in seconds, not the 30 s defaults.
FAST_WORKER_ARGS = ["--connect-timeout", "8", "--media-timeout", "3", "--consent-interval", "0.5",
                    "--consent-failures", "4", "--pli-interval", "0.3"]


@pytest.fixture(scope="session")
def sfu_pool():
    run_dir = Path(tempfile.mkdtemp(prefix="psfu-"))
    pool = WorkerPool(run_dir=run_dir / "run", workers=2, recording_dir=run_dir / "rec",
                      extra_args=FAST_WORKER_ARGS)
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
    config = BackendConfig(name="Built-in video", backend="native_sfu", enabled=True, is_default=False, settings={})
    db.session.add(config)
    db.session.flush()
    school.klass.backend_config_id = config.id
    db.session.commit()
    school.sfu_config = config
    school.pool = sfu_pool
    return school
