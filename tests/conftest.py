"""The core's fixtures live in portal_testing.py, registered once for the whole run by the
repository's root conftest.py. What remains here is for test modules that still do
`from conftest import ...` (tests/hardening/test_xss_browser.py): import from portal_testing
instead, then this file can go. It must define no fixtures: a second registration of a
session fixture would create a second test database."""

from portal_testing import PASSWORD, make_app  # noqa: F401
