"""Migrations lint: every version location (the core's and each plugin's) is one linear
history whose revisions are named after their files, undo cleanly, and never import today's
application models (a revision must build the schema of its day, whatever the models say
later).

The checks are functions returning the problems they find, so the tests at the bottom can
prove each one catches a deliberately broken revision written to a temporary folder."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from portal import MIGRATIONS_DIR
from portal.extensions import db

CORE_VERSIONS = Path(MIGRATIONS_DIR) / "versions"
# What a revision may not import: the models and the app's database object change over
# time, a revision must not.
FORBIDDEN_MODULE = re.compile(r"(^|\.)models$|^portal\.extensions$")
FORBIDDEN_NAMES = {"db", "Model", "Base"}


def plugin_version_locations(app) -> dict[str, Path]:
    """Each loaded plugin's own version folder (register_migrations), by plugin name."""
    return {name: Path(folder) for name, folder in app.extensions["portal.registry"].migration_dirs}


def _script_directory(folder: Path) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(folder))
    return ScriptDirectory.from_config(config)


def _revision_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")


def history_problems(folder: Path) -> list[str]:
    """One head and one base: a second head means two branches nobody merged."""
    script = _script_directory(folder)
    problems = []
    if len(script.get_heads()) != 1:
        problems.append(f"{folder}: {len(script.get_heads())} heads {sorted(script.get_heads())}")
    if len(script.get_bases()) != 1:
        problems.append(f"{folder}: {len(script.get_bases())} bases {sorted(script.get_bases())}")
    return problems


def naming_problems(folder: Path, plugin: str | None = None) -> list[str]:
    """NNNN_topic.py holds revision NNNN or NNNN_<anything> (a plugin's: <plugin>_NNNN...)."""
    problems = []
    for path in _revision_files(folder):
        number = path.name.split("_", 1)[0]
        revision = _module_value(path, "revision")
        expected = f"{plugin}_{number}" if plugin else number
        if not number.isdigit():
            problems.append(f"{path.name}: the file name does not start with its number")
        elif not isinstance(revision, str) or not re.fullmatch(
            rf"{re.escape(expected)}(_\w+)?", revision
        ):
            problems.append(f"{path.name}: revision {revision!r} does not start with {expected!r}")
    return problems


def downgrade_and_import_problems(folder: Path) -> list[str]:
    """Each revision defines downgrade() and imports no application model."""
    problems = []
    for path in _revision_files(folder):
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        if "downgrade" not in functions:
            problems.append(f"{path.name}: no downgrade()")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
                names: list[str] = []
            elif isinstance(node, ast.ImportFrom):
                modules, names = [node.module or ""], [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if FORBIDDEN_MODULE.search(module):
                    problems.append(f"{path.name}: imports {module}")
            for name in FORBIDDEN_NAMES.intersection(names):
                problems.append(f"{path.name}: imports {name} from {modules[0]}")
    return problems


def _module_value(path: Path, name: str) -> object:
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return node.value.value
    return None


def all_problems(folder: Path, plugin: str | None = None) -> list[str]:
    return (
        history_problems(folder)
        + naming_problems(folder, plugin)
        + downgrade_and_import_problems(folder)
    )


# The real version locations ---------------------------------------------------------------


def test_the_core_migrations_pass_the_lint():
    assert all_problems(CORE_VERSIONS) == []


def test_every_plugin_migration_location_passes_the_lint(app):
    locations = plugin_version_locations(app)
    assert "sso_insp" in locations, "the bundled plugin with tables registers its migrations"
    problems = [p for name, folder in locations.items() for p in all_problems(folder, name)]
    assert problems == []


def _schema_differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, parents: (
                    not (type_ == "table" and name.startswith("alembic_version"))
                ),
            },
        )
        return compare_metadata(context, db.metadata)


def test_every_revision_downgrades_and_upgrades_again(private_database_url, tmp_path):
    """Head, base, head again, core and plugins alike: each downgrade runs, undoes all of
    its upgrade (only the version tables are left), and the history then rebuilds exactly
    the schema the models describe."""
    from flask_migrate import downgrade, upgrade
    from portal_testing import make_app

    from portal.plugin_setup import downgrade_plugins, upgrade_database, upgrade_plugins

    app = make_app(private_database_url, tmp_path)
    with app.app_context():
        upgrade_database()
        downgrade_plugins("base")
        downgrade(revision="base")
        left = set(sa.inspect(db.engine).get_table_names())
        assert {t for t in left if not t.startswith("alembic_version")} == set()
        upgrade()
        upgrade_plugins()
        assert _schema_differences() == []
        db.engine.dispose()


# The lint catches broken revisions --------------------------------------------------------


@pytest.fixture
def copied_core_versions(tmp_path) -> Path:
    folder = tmp_path / "versions"
    shutil.copytree(CORE_VERSIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _write_revision(folder: Path, filename: str, body: str) -> None:
    (folder / filename).write_text(body)


REVISION = '''"""a deliberately broken revision (test fixture)"""
{imports}
revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    pass
{downgrade}'''


def _revision(revision: str, down: str | None, imports: str = "", downgrade: bool = True) -> str:
    return REVISION.format(
        imports=imports,
        revision=revision,
        down=down,
        downgrade="\n\ndef downgrade():\n    pass\n" if downgrade else "",
    )


def test_a_second_head_is_caught(copied_core_versions):
    head = _script_directory(copied_core_versions).get_current_head()
    # Two revisions on the same parent: the branch that two helpers' 0004s would make.
    _write_revision(copied_core_versions, "0098_one.py", _revision("0098_one", head))
    _write_revision(copied_core_versions, "0099_other.py", _revision("0099_other", head))
    assert [p for p in all_problems(copied_core_versions) if "2 heads" in p]


def test_a_revision_id_unlike_its_file_name_is_caught(copied_core_versions):
    head = _script_directory(copied_core_versions).get_current_head()
    _write_revision(copied_core_versions, "0099_topic.py", _revision("abc123", head))
    assert all_problems(copied_core_versions) == [
        "0099_topic.py: revision 'abc123' does not start with '0099'"
    ]


def test_a_plugin_revision_without_its_plugin_prefix_is_caught(tmp_path):
    _write_revision(tmp_path, "0001_tables.py", _revision("0001", None))
    assert naming_problems(tmp_path, "myplugin") == [
        "0001_tables.py: revision '0001' does not start with 'myplugin_0001'"
    ]


def test_a_missing_downgrade_is_caught(copied_core_versions):
    head = _script_directory(copied_core_versions).get_current_head()
    _write_revision(
        copied_core_versions, "0099_topic.py", _revision("0099_topic", head, downgrade=False)
    )
    assert all_problems(copied_core_versions) == ["0099_topic.py: no downgrade()"]


@pytest.mark.parametrize(
    "imports",
    [
        "from portal.core.models import User",
        "import portal.core.models",
        "from portal.extensions import db",
        "from portal_sso_insp.models import SsoToken",
        "from portal.plugins.tables import Model",
    ],
)
def test_importing_application_models_is_caught(copied_core_versions, imports):
    head = _script_directory(copied_core_versions).get_current_head()
    _write_revision(
        copied_core_versions, "0099_topic.py", _revision("0099_topic", head, imports=imports)
    )
    problems = all_problems(copied_core_versions)
    assert problems, "the import went unnoticed"
    assert all(p.startswith("0099_topic.py: imports") for p in problems), problems
