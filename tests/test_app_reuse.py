"""Tests that commit for real borrow an app built earlier with the same configuration
(portal_testing.checkout_app): it must come back as a new app would be, or one test's
settings, extensions and rows would leak into the next."""

from __future__ import annotations

from portal_testing import checkin_app, checkout_app, make_app

from portal.core.models import User
from portal.extensions import db


def test_a_returned_app_is_lent_again_with_its_settings_extensions_and_rows_as_new(
    database_url, tmp_path
):
    fresh = make_app(database_url, tmp_path / "fresh")
    first = checkout_app(database_url, tmp_path / "first")
    with first.app.app_context():
        from portal.core import users

        users.create_user(None, email="left@tests.school", name="Left Over", role="student")
        db.session.commit()
    first.app.config["SCHOOL_NAME"] = "Changed by the first test"
    first.app.extensions["left.over"] = object()
    checkin_app(first)

    second = checkout_app(database_url, tmp_path / "second")
    try:
        assert second.app is first.app  # built once, lent twice
        assert second.app.config["SCHOOL_NAME"] == fresh.config["SCHOOL_NAME"]
        assert second.app.config["STORAGE_DIR"] == str(tmp_path / "second" / "files")
        assert set(second.app.extensions) == set(fresh.extensions)
        with second.app.app_context():
            assert db.session.execute(db.select(User)).scalars().all() == []
    finally:
        checkin_app(second)


def test_an_app_whose_routes_a_test_changed_is_not_lent_again(database_url, tmp_path):
    changed = checkout_app(database_url, tmp_path, SCHOOL_NAME="Routes changed")
    changed.app.add_url_rule("/added-by-a-test", "added_by_a_test", lambda: "added")
    checkin_app(changed)

    again = checkout_app(database_url, tmp_path, SCHOOL_NAME="Routes changed")
    try:
        assert again.app is not changed.app
        assert again.app.test_client().get("/added-by-a-test").status_code == 404
    finally:
        checkin_app(again)
