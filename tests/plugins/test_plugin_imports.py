"""Plugins reach the core only through the contract (portal.plugins and its submodules), so a
third-party plugin can do everything a bundled one does and the core can change behind it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Plugins not yet ported onto portal.plugins.services: none. Nothing may be added here.
NOT_YET_PORTED: set[str] = set()


def _portal_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a `portal` module in one file, including imports
    inside functions, relative imports excluded (they stay inside the plugin)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from portal import extensions` imports portal.extensions.
            found += [
                (
                    node.lineno,
                    f"{node.module}.{alias.name}" if node.module == "portal" else node.module,
                )
                for alias in node.names
            ]
    return [(line, name) for line, name in found if name == "portal" or name.startswith("portal.")]


def _allowed(module: str) -> bool:
    return module == "portal.plugins" or module.startswith("portal.plugins.")


def plugin_sources() -> list[Path]:
    """Every bundled plugin's source, and the test-only third-party plugins (tests/plugins)."""
    bundled = [
        p
        for p in ROOT.glob("plugins/*/portal_*/**/*.py")
        if p.relative_to(ROOT / "plugins").parts[0] not in NOT_YET_PORTED
    ]
    return sorted([*bundled, *ROOT.glob("tests/plugins/*/portal_*/**/*.py")])


def test_plugins_import_nothing_from_portal_but_the_contract():
    sources = plugin_sources()
    assert len(sources) > 20, "the scan found no plugin sources"
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sources
        for line, module in _portal_imports(path)
        if not _allowed(module)
    ]
    assert offences == [], "plugins must import only portal.plugins:\n" + "\n".join(offences)


def test_the_scan_catches_every_form_of_import(tmp_path):
    """The scan itself: each way of reaching the core is found, the contract is not."""
    source = tmp_path / "sample.py"
    source.write_text(
        "import portal.core.models\n"
        "from portal.extensions import db\n"
        "from portal import api\n"
        "def later():\n"
        "    from portal.core import meetings\n"
        "from portal.plugins import services\n"
        "from portal.plugins.web import safe_next_path\n"
        "from . import sibling\n"
    )
    bad = [module for _, module in _portal_imports(source) if not _allowed(module)]
    assert bad == ["portal.core.models", "portal.extensions", "portal.api", "portal.core"]


def test_no_plugin_is_excused_from_the_scan():
    assert not NOT_YET_PORTED
    scanned = {
        p.relative_to(ROOT / "plugins").parts[0]
        for p in plugin_sources()
        if ROOT / "plugins" in p.parents
    }
    assert scanned == {
        p.name for p in (ROOT / "plugins").iterdir() if list(p.glob("portal_*/*.py"))
    }
