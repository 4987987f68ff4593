"""The vendored browser libraries are the pinned, unmodified release files (with their
licence): what scripts/fetch_vendor.py fetched and checked, byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "scripts" / "vendor.json").read_text())


def test_committed_vendor_files_match_their_pinned_hashes():
    for name, entry in MANIFEST.items():
        dest = ROOT / entry["dest"]
        assert set(entry["sha256"]) == set(entry["files"].values()), name
        assert "LICENSE" in entry["sha256"], f"{name} ships without its licence"
        for target, pinned in entry["sha256"].items():
            data = (dest / target).read_bytes()
            assert hashlib.sha256(data).hexdigest() == pinned, f"{name}: {target} was modified"


def test_pages_load_the_vendored_client_not_a_cdn():
    base = (ROOT / "portal" / "web" / "templates" / "room" / "room.html").read_text()
    assert "vendor/socket.io-client/socket.io.min.js" in base
    assert "://" not in "".join(
        line for line in base.splitlines() if "<script" in line and "src=" in line
    )
