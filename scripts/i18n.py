"""Message catalogues of the core and of each plugin that has user-facing text.

    python scripts/i18n.py extract   # .pot templates from the sources (babel.cfg per domain)
    python scripts/i18n.py update    # extract, then merge into each language's .po
    python scripts/i18n.py compile   # .po -> .mo (the install step runs this; .mo not committed)

English is the source language; LANGUAGES are the translations. Run from the repository root.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("fr", "es", "ar")
# Keywords: the Python and Jinja gettext names, and the pages' scripts' Portal.t / Portal.nt.
# The error classes too (every PortalError subclass, core and plugins): their first argument
# is the API error's English `message`, which portal/errors.py translates when it renders the
# answer, so `raise Conflict("...")` needs no `_()` at the raise site. A message with values
# names them as params: `Conflict("... %(time)s", params={"time": ...})`, translated where
# it is shown too (a batch of live joins answers each student in their own language).
ERROR_CLASSES = [
    "PortalError", "ValidationFailed", "NotAuthenticated", "Forbidden", "NotFound", "Conflict",
    "Unprocessable", "ServiceUnavailable", "TooManyRequests", "Gone", "RateLimited", "TooLarge",
    "BackendCallFailed", "SdpTooLarge", "TokenRejected",
]  # fmt: skip
# portal/errors.py's own answers (CSRF, database down...): error_response(status, code, message).
# The SFU worker's refusals, SfuError(code, message, **values), translated by the portal side
# when it answers (plugins/native_sfu: channel.WorkerError.shown).
ERROR_FUNCTIONS = ["error_response:3", "SfuError:2"]
KEYWORDS = [
    "_", "gettext", "lazy_gettext", "ngettext:1,2", "Portal.t", "Portal.nt:1,2", *ERROR_CLASSES,
    *ERROR_FUNCTIONS,
]  # fmt: skip


def domains() -> list[tuple[Path, Path, str]]:
    """(source root, translations directory, domain) of the core and each plugin that has a
    babel.cfg."""
    found = [(ROOT, ROOT / "portal" / "translations", "messages")]
    for config in sorted(ROOT.glob("plugins/*/babel.cfg")):
        plugin = config.parent
        package = next(p for p in plugin.glob("portal_*") if p.is_dir() and p.suffix != ".egg-info")
        found.append((plugin, package / "translations", package.name))
    return found


def pybabel(*args: str, cwd: Path) -> None:
    executable = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(executable), "-q", *args], cwd=cwd, check=True)


def extract() -> None:
    for root, directory, domain in domains():
        directory.mkdir(parents=True, exist_ok=True)
        keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
        pybabel(
            "extract", "-F", "babel.cfg", "--no-default-keywords", *keywords,
            "--omit-header", "--sort-by-file", "-o", str(directory / f"{domain}.pot"), ".",
            cwd=root,
        )  # fmt: skip


def update() -> None:
    extract()
    for _root, directory, domain in domains():
        template = str(directory / f"{domain}.pot")
        for language in LANGUAGES:
            po = directory / language / "LC_MESSAGES" / f"{domain}.po"
            command = "update" if po.exists() else "init"
            args = ["-i", template, "-d", str(directory), "-D", domain, "-l", language]
            if command == "update":
                args.append("--no-fuzzy-matching")
            pybabel(command, *args, cwd=ROOT)


def compile_catalogues() -> None:
    for _root, directory, domain in domains():
        if any(directory.glob(f"*/LC_MESSAGES/{domain}.po")):
            pybabel("compile", "-d", str(directory), "-D", domain, cwd=ROOT)


if __name__ == "__main__":
    {"extract": extract, "update": update, "compile": compile_catalogues}[sys.argv[1]]()
