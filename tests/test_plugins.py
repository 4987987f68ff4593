"""The plugin contract: loading, filtering, registration checks, documentation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portal.plugins import (
    PluginConfigurationError,
    PluginRegistry,
    hookimpl,
    hookspecs,
    make_plugin_manager,
)

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "tests" / "plugins" / "hello"


def hook_names() -> list[str]:
    return sorted(
        name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), "portal_spec", None)
    )


def test_every_hook_is_documented_in_docs_plugins_md():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    documented = set(re.findall(r"^#+ `(\w+)", docs, flags=re.MULTILINE))
    missing = [name for name in hook_names() if name not in documented]
    assert hook_names(), "no hookspecs found"
    assert missing == [], f"hooks missing from docs/plugins.md: {missing}"


def test_each_hook_is_documented_with_its_real_parameters():
    """A heading `name(a, b)` in docs/plugins.md must name the hookspec's parameters, in
    order: a plugin written from the docs receives what the docs promise."""
    import inspect

    docs = (ROOT / "docs" / "plugins.md").read_text()
    documented = {
        name: [p.strip() for p in params.split(",") if p.strip()]
        for name, params in re.findall(r"^#+ `(\w+)\(([^)]*)\)`", docs, flags=re.MULTILINE)
    }
    wrong = {}
    for name in hook_names():
        expected = list(inspect.signature(getattr(hookspecs, name)).parameters)
        if documented.get(name) != expected:
            wrong[name] = (documented.get(name), expected)
    assert wrong == {}, f"docs/plugins.md headings (documented, hookspecs.py): {wrong}"


def test_every_facade_function_is_documented_in_docs_plugins_md():
    from portal.plugins import services

    docs = (ROOT / "docs" / "plugins.md").read_text()
    documented = set(re.findall(r"^#+ `services\.(\w+)\(", docs, flags=re.MULTILINE))
    assert services.__all__, "the facade exports nothing"
    assert sorted(set(services.__all__) - documented) == []
    assert all(callable(getattr(services, name)) for name in services.__all__)


def test_builtin_outbox_is_loaded_and_can_be_disabled():
    pm = make_plugin_manager(load_entrypoints=False)
    assert pm.get_plugin("outbox") is not None
    registry = PluginRegistry.collect(pm)
    assert {n.name for n in registry.notifiers["email"]} == {"outbox"}

    pm = make_plugin_manager(load_entrypoints=False, deny="outbox")
    assert pm.get_plugin("outbox") is None
    assert PluginRegistry.collect(pm).notifiers == {}


def test_allow_list_keeps_only_named_plugins():
    pm = make_plugin_manager(load_entrypoints=False, allow="something-else")
    assert pm.get_plugin("outbox") is None


def test_duplicate_backend_names_are_refused():
    from fake_backend import FAKE

    class Twice:
        @hookimpl
        def register_meeting_backends(self, register):
            register(FAKE)
            register(FAKE)

    pm = make_plugin_manager(load_entrypoints=False, extra_plugins=[Twice()])
    with pytest.raises(PluginConfigurationError, match="two meeting backends named 'fake'"):
        PluginRegistry.collect(pm)


def test_object_missing_protocol_methods_is_refused():
    class Broken:
        name = "broken"

    class Plugin:
        @hookimpl
        def register_meeting_backends(self, register):
            register(Broken())

    pm = make_plugin_manager(load_entrypoints=False, extra_plugins=[Plugin()])
    with pytest.raises(PluginConfigurationError, match="does not implement MeetingBackend"):
        PluginRegistry.collect(pm)


def test_misspelled_hook_fails_at_load_time():
    class Typo:
        @hookimpl
        def register_meting_backends(self, register):  # typo on purpose
            pass

    with pytest.raises(Exception, match="unknown hook"):
        make_plugin_manager(load_entrypoints=False, extra_plugins=[Typo()])


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory) -> Path:
    """The hello plugin really installed (pip, entry points and all) into a private folder."""
    target = tmp_path_factory.mktemp("site")
    # Built from a private copy: setuptools writes build/ and *.egg-info next to the source,
    # and a shared or stale one there gave an installed entry point without its module.
    source = tmp_path_factory.mktemp("hello-src") / "hello"
    shutil.copytree(HELLO, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    return target


def _run_with_hello(site: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_installed_third_party_plugin_is_discovered_and_used(hello_site):
    code = (
        "import json\n"
        "from portal.plugins import make_plugin_manager, PluginRegistry, NotificationMessage\n"
        "from portal.plugins.manager import describe_plugins\n"
        "pm = make_plugin_manager()\n"
        "reg = PluginRegistry.collect(pm)\n"
        "result = reg.notifiers['hello'][0].send(NotificationMessage('hello', "
        "'x', 'subject', 'text'))\n"
        "print(json.dumps({'plugins': describe_plugins(pm), 'status': result.status}))\n"
    )
    run = _run_with_hello(hello_site, code)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    hello = [p for p in out["plugins"] if p["name"] == "hello"]
    assert hello and hello[0]["version"] == "0.3.1"
    assert "register_notifiers" in hello[0]["hooks"]
    assert out["status"] == "sent"


def test_deny_list_drops_an_installed_plugin(hello_site):
    code = (
        "from portal.plugins import make_plugin_manager\n"
        "print(make_plugin_manager(deny='hello').get_plugin('hello') is None)\n"
    )
    run = _run_with_hello(hello_site, code)
    assert run.stdout.strip() == "True", run.stderr


def test_portal_plugins_command_lists_plugins_and_plugin_commands_work(hello_site, tmp_path):
    env = {
        "PYTHONPATH": str(hello_site),
        "PATH": "/usr/bin:/bin",
        "PORTAL_INSTANCE_PATH": str(tmp_path),
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}",
    }
    portal = [sys.executable, "-m", "portal.cli"]
    listed = subprocess.run(
        [*portal, "plugins"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        r"^hello\s+0\.3\.1\s+register_commands, register_notifiers", listed.stdout, re.MULTILINE
    )
    assert re.search(r"^outbox\s+", listed.stdout, re.MULTILINE)
    said = subprocess.run([*portal, "hello"], env=env, capture_output=True, text=True, timeout=120)
    assert said.stdout.strip() == "hello from a plugin", said.stderr
