"""Fetch the pinned browser libraries into portal/web/static/vendor/ (run by hand, never at
run time: the files are committed so CI and offline schools need no network).

For each package in scripts/vendor.json: `npm pack <name>@<version>` downloads the release
tarball from the npm registry, its sha256 must equal the pinned one, and the listed files are
copied out unmodified; their own sha256 are pinned too (tests/test_vendor.py checks the
committed copies against them). `--pin` records the hashes of a new version instead of
checking them (review the diff of scripts/vendor.json before committing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "scripts" / "vendor.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(name: str, entry: dict, *, pin: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = (
            subprocess.run(
                ["npm", "pack", "--silent", f"{name}@{entry['version']}"],
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        tarball = Path(tmp) / out
        digest = sha256(tarball.read_bytes())
        if pin:
            entry["tarball_sha256"] = digest
        elif digest != entry["tarball_sha256"]:
            sys.exit(
                f"{name}@{entry['version']}: tarball sha256 {digest} is not the pinned "
                f"{entry['tarball_sha256']}"
            )
        dest = ROOT / entry["dest"]
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            for member, target in entry["files"].items():
                extracted = archive.extractfile(member)
                if extracted is None:
                    sys.exit(f"{name}: {member} is not a file in the tarball")
                data = extracted.read()
                if pin:
                    entry["sha256"][target] = sha256(data)
                elif sha256(data) != entry["sha256"].get(target):
                    sys.exit(f"{name}: {member} does not match its pinned sha256")
                (dest / target).write_bytes(data)
        print(f"{name}@{entry['version']} -> {entry['dest']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pin", action="store_true", help="record the hashes of the versions in vendor.json"
    )
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text())
    for name, entry in manifest.items():
        fetch(name, entry, pin=args.pin)
    if args.pin:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
