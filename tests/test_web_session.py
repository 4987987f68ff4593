"""safe_next_path: whatever a user or attacker puts in `next`, the redirect stays on the portal."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.web.session import safe_next_path

PORTAL = "https://portal.school.example/some/page"


def stays_on_portal(path: str) -> bool:
    # What a browser does with a relative Location header.
    target = urlsplit(urljoin(PORTAL, path))
    return (target.scheme, target.netloc) == ("https", "portal.school.example")


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(list("/\\:.@%?#&=ab \t\n\r\x00") + ["http", "evil.test", "//"]), max_size=12
    ).map("".join)
)
def test_any_input_yields_a_portal_path(value):
    result = safe_next_path(value)
    assert result == "/" or (result == value and result.startswith("/") and stays_on_portal(result))


@pytest.mark.parametrize(
    "value", ["/", "/classes/12", "/classes/12?tab=chat#top", "/a/b%2Fc", "/@user"]
)
def test_portal_paths_are_kept(value):
    assert safe_next_path(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "//evil.test",
        "///evil.test",
        "/\\evil.test",
        "\\\\evil.test",
        "https://evil.test",
        "HTTPS://evil.test",
        "javascript:alert(1)",
        "/\t/evil.test",
        "/\n/evil.test",
        " /x",
        "classes/1",
        "/" + "a" * 3000,
    ],
)
def test_everything_else_falls_back(value):
    assert safe_next_path(value) == "/"
    assert safe_next_path(value, default=None) is None
