"""The migration history builds exactly the schema the models describe, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.extensions import db


def test_models_and_migrations_do_not_drift(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_migrations_are_one_linear_history(app):
    from alembic.script import ScriptDirectory

    from portal import MIGRATIONS_DIR

    config = app.extensions["migrate"].migrate.get_config(MIGRATIONS_DIR)
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, "migrations must not branch"
    assert len(script.get_bases()) == 1


def test_downgrade_to_base_and_back(tmp_path):
    """Every revision can be undone, so a failed deploy can be rolled back."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade
    from portal_testing import make_app

    # A private database: downgrading the shared session database would break other tests.
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    app = make_app(url, tmp_path)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert "meetings" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
