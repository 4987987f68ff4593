"""Reuse the core suite's fixtures (database, users, login) for this plugin's tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.append(str(Path(__file__).resolve().parent))  # after tests/: `conftest` stays the core one


def _core_fixtures():
    name = "portal_core_test_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


core = _core_fixtures()
database_url = core.database_url
redis_url = core.redis_url
