"""Root conftest: registers the core's shared fixtures (tests/portal_testing.py) once for the
whole run, for tests/ and every plugins/*/tests/ alike, whether pytest runs the whole suite,
one plugin's tests or one file. pytest allows `pytest_plugins` only in this rootdir conftest.

The test helper folders go on sys.path here so their modules import by plain name
(`from portal_testing import make_app`, `from smtp_double import SmtpDouble`, ...); with
--import-mode=importlib pytest itself adds none of them."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
HELPER_DIRS = [ROOT / "tests", ROOT / "tests" / "browser", *sorted(ROOT.glob("plugins/*/tests"))]
sys.path[0:0] = [str(path) for path in HELPER_DIRS if str(path) not in sys.path]

pytest_plugins = ["portal_testing"]
