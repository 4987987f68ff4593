"""The migration history builds exactly the schema the models describe, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.extensions import db


def _not_a_version_table(name, type_, parent_names) -> bool:
    # Each plugin's own history is tracked in alembic_version_<plugin>; no model describes it.
    return not (type_ == "table" and name.startswith("alembic_version"))


def test_models_and_migrations_do_not_drift(app):
    """Core and plugin tables alike: plugin models (sso_insp's SsoToken) share the metadata,
    and their own migrations ran with the core's (portal db upgrade)."""
    assert "sso_tokens" in db.metadata.tables, "the plugins' models are not on the metadata"
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _not_a_version_table}
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_plugin_migrations_are_tracked_in_their_own_version_table(app):
    import sqlalchemy as sa

    folders = dict(app.extensions["portal.registry"].migration_dirs)
    assert "sso_insp" in folders
    with db.engine.connect() as connection:
        assert connection.execute(
            sa.text("select version_num from alembic_version_sso_insp")
        ).scalars().all() == ["sso_insp_0001"]


def test_the_sso_plugin_adopts_an_existing_table_with_its_rows(tmp_path):
    """An install from before the move has sso_tokens (core revision 0001) with rows that
    stop replays: the plugin's first revision keeps them; where the table is missing, it
    creates it."""
    import sqlalchemy as sa
    from flask_migrate import upgrade
    from portal_testing import make_app

    from portal.plugin_setup import upgrade_plugins

    app = make_app(f"sqlite:///{tmp_path / 'adopt.sqlite3'}", tmp_path)
    with app.app_context():
        upgrade()  # the core's history only: what an existing install has
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "insert into sso_tokens (provider, jti, expires_at, used_at) "
                    "values ('insp', 'kept', '2030-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        upgrade_plugins()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("select jti from sso_tokens")).scalars().all() == [
                "kept"
            ]
            assert (
                connection.execute(
                    sa.text("select version_num from alembic_version_sso_insp")
                ).scalar()
                == "sso_insp_0001"
            )
        db.engine.dispose()

    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(sa.text("drop table sso_tokens"))
        upgrade_plugins()
        assert "sso_tokens" in sa.inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": _not_a_version_table}
            )
            assert compare_metadata(context, db.metadata) == []
        db.engine.dispose()


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


def test_portal_db_upgrade_applies_the_plugins_migrations_too(tmp_path):
    import sqlalchemy as sa
    from portal_testing import make_app

    app = make_app(f"sqlite:///{tmp_path / 'cli.sqlite3'}", tmp_path)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tables = sa.inspect(db.engine).get_table_names()
        assert {"alembic_version", "alembic_version_sso_insp", "sso_tokens", "meetings"} <= set(
            tables
        )
        db.engine.dispose()


def test_channel_preferences_keep_every_users_email_and_sms_choice(tmp_path):
    """0004 turns notify_email / notify_sms into channel_preferences without losing a choice,
    and its downgrade gives them back."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade
    from portal_testing import make_app

    app = make_app(f"sqlite:///{tmp_path / 'prefs.sqlite3'}", tmp_path)
    with app.app_context():
        upgrade(revision="0003_floor_seats")
        with db.engine.begin() as connection:
            for n, (email, sms) in enumerate([(True, False), (False, True), (False, False)]):
                connection.execute(
                    sa.text(
                        "insert into users (email, name, role, is_active, notify_email,"
                        " notify_sms, token_generation, created_at, updated_at) values"
                        " (:email, 'U', 'student', 1, :e, :s, 0, '2026-01-01', '2026-01-01')"
                    ),
                    {"email": f"u{n}@tests.school", "e": email, "s": sms},
                )
        upgrade(revision="0004_channel_preferences")
        with db.engine.connect() as connection:
            kept = connection.execute(
                sa.select(sa.column("channel_preferences", sa.JSON))
                .select_from(sa.table("users"))
                .order_by(sa.text("id"))
            ).scalars()
            assert kept.all() == [
                {"email": True, "sms": False},
                {"email": False, "sms": True},
                {"email": False, "sms": False},
            ]
        downgrade(revision="0003_floor_seats")
        with db.engine.connect() as connection:
            back = connection.execute(
                sa.text("select notify_email, notify_sms from users order by id")
            ).all()
            assert [tuple(map(bool, row)) for row in back] == [
                (True, False),
                (False, True),
                (False, False),
            ]
