"""`portal export` / `portal import`: a round trip keeps every table's rows, on the database
the suite runs on (SQLite by default, PostgreSQL in CI), and refuses unsafe imports."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hardening_backup import fill_every_table, snapshot
from portal_testing import make_app

from portal.core.models import User
from portal.extensions import db


def _cli(app):
    from portal.cli import _register_commands

    if "export" not in app.cli.commands:
        _register_commands(app)
    return app.test_cli_runner()


@pytest.fixture(scope="module")
def migrated_template(database_url, tmp_path_factory) -> Iterator[str]:
    """One freshly migrated, empty database of the suite's kind for the module: each test
    restores into a copy of it (`_new_database`) instead of running every revision again;
    the restore is what these tests are about, not the migrations (test_migrations*.py)."""
    folder = tmp_path_factory.mktemp("backup-template")
    target = _new_database(database_url, folder, "template")
    app = make_app(target, folder)
    with app.app_context():
        # As `portal db upgrade` does: the core's revisions, then every plugin's.
        from portal.plugin_setup import upgrade_database

        upgrade_database()
        db.engine.dispose()  # PostgreSQL copies a template only while nobody is connected
    yield target
    _drop(database_url, target)


def _new_database(database_url: str, tmp_path, label: str, template: str | None = None) -> str:
    """A new database of the same kind as the suite's: empty, or a copy of `template`."""
    url = sa.engine.make_url(database_url)
    if url.drivername.startswith("sqlite"):
        path = tmp_path / f"{label}.sqlite3"
        if template is not None:
            shutil.copyfile(sa.engine.make_url(template).database or "", path)
        return f"sqlite:///{path}"
    name = f"portal_{label}_{uuid.uuid4().hex[:10]}"
    copy = f' template "{sa.engine.make_url(template).database}"' if template else ""
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"{copy}'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop(database_url: str, target: str) -> None:
    if target.startswith("sqlite"):
        return
    name = sa.engine.make_url(target).database
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    engine.dispose()


@pytest.mark.parametrize("suffix", ["ndjson", "ndjson.gz"])
def test_export_import_round_trip_keeps_every_row(
    app, school, database_url, migrated_template, tmp_path, suffix
):
    before = fill_every_table()
    assert all(before.values()), [name for name, rows in before.items() if not rows]
    archive = tmp_path / f"backup.{suffix}"
    result = _cli(app).invoke(args=["export", str(archive)])
    assert result.exit_code == 0, result.output
    target = _new_database(database_url, tmp_path, "restore", template=migrated_template)
    try:
        restored = make_app(target, tmp_path)
        with restored.app_context():
            result = _cli(restored).invoke(args=["import", str(archive)])
            assert result.exit_code == 0, result.output
            after = snapshot()
            assert after == before
            # Derived data is rebuilt from the imported rows: the admin's list total.
            from portal.core import class_totals

            assert class_totals.active_classes() == len(after["classes"])
            # Sequences moved past the imported ids: new rows do not collide.
            from portal.core import users

            fresh = users.create_user(None, email="after-restore@tests.school", name="New")
            db.session.commit()
            assert fresh.id > max(r[0] for r in before["users"])
            # A second import into the now non-empty database is refused, and changes nothing.
            again = _cli(restored).invoke(args=["import", str(archive)])
            assert again.exit_code != 0 and "not empty" in again.output
            assert (
                db.session.execute(sa.select(sa.func.count(User.id))).scalar_one()
                == len(before["users"]) + 1
            )
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop(database_url, target)


def test_truncated_or_foreign_files_are_refused_and_leave_the_target_empty(
    app, school, database_url, migrated_template, tmp_path
):
    fill_every_table()
    archive = tmp_path / "backup.ndjson"
    assert _cli(app).invoke(args=["export", str(archive)]).exit_code == 0
    lines = archive.read_text().splitlines()
    truncated = tmp_path / "truncated.ndjson"
    truncated.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    foreign = tmp_path / "foreign.ndjson"
    foreign.write_text(json.dumps({"hello": "world"}) + "\n")
    wrong_schema = tmp_path / "schema.ndjson"
    header = json.loads(lines[0]) | {"schema": "9999_future"}
    wrong_schema.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    target = _new_database(database_url, tmp_path, "restore", template=migrated_template)
    try:
        restored = make_app(target, tmp_path)
        with restored.app_context():
            for path, message in [
                (truncated, "truncated"),
                (foreign, "not a portal backup"),
                (wrong_schema, "schema"),
            ]:
                result = _cli(restored).invoke(args=["import", str(path)])
                assert result.exit_code != 0 and message in result.output, result.output
                assert not any(snapshot().values()), f"{path.name} left rows behind"
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop(database_url, target)
