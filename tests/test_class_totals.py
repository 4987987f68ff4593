"""The admin's unfiltered class list (every class of the school) shows the right total
without counting every class on each request: the total is kept beside the classes by the
transaction that creates or cancels one (portal/core/class_totals.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.core import class_totals
from portal.core.types import utcnow
from portal.extensions import db


def _statements_during(call):
    statements: list[str] = []

    def listener(conn, cursor, statement, params, context, executemany):
        statements.append(statement.lower())

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = call()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return result, statements


def _new_class(api, title: str) -> int:
    response = api.post(
        "/api/classes",
        json={
            "title": title,
            "starts_at": (utcnow() + timedelta(days=1)).isoformat(),
            "duration_minutes": 45,
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _admin_total(admin_api) -> int:
    # A page smaller than the list, so the total is not simply the rows on the page.
    response = admin_api.get("/api/classes", query_string={"limit": 1})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["total"]


@pytest.mark.real_commits
def test_admin_list_total_follows_creations_and_cancellations_without_counting(make_user, login):
    # A table wipe between tests is SQL around the ORM: rebuild the kept total first.
    class_totals.recount(db.session.connection())
    db.session.commit()
    teacher, admin = make_user("teacher"), make_user("admin")
    teacher_api, admin_api = login(teacher), login(admin)
    ids = [_new_class(teacher_api, f"Class {n}") for n in range(3)]
    assert _admin_total(admin_api) == 3

    _new_class(teacher_api, "One more")
    assert _admin_total(admin_api) == 4

    assert teacher_api.post(f"/api/classes/{ids[0]}/cancel").status_code == 200
    assert _admin_total(admin_api) == 3
    # Cancelling again changes nothing.
    assert teacher_api.post(f"/api/classes/{ids[0]}/cancel").status_code == 200
    assert _admin_total(admin_api) == 3

    # A creation that fails (bad input) leaves the total alone.
    refused = teacher_api.post("/api/classes", json={"title": "", "duration_minutes": 45})
    assert refused.status_code == 400
    assert _admin_total(admin_api) == 3

    # The page's own rows agree with the total: three active classes in all.
    page = admin_api.get("/api/classes", query_string={"limit": 50}).get_json()
    assert len(page["items"]) == page["total"] == 3

    # And the total came from the kept row: no count over the classes table.
    total, statements = _statements_during(lambda: _admin_total(admin_api))
    assert total == 3
    assert not [s for s in statements if "count(" in s], statements


@pytest.mark.real_commits
def test_a_rolled_back_creation_does_not_change_the_kept_total(make_user):
    from portal.core import classes

    class_totals.recount(db.session.connection())
    db.session.commit()
    teacher = make_user("teacher")
    before = class_totals.active_classes()
    classes.create_class(
        teacher,
        classes.ClassInput(
            title="Never", starts_at=utcnow() + timedelta(days=1), duration_minutes=30
        ),
    )
    assert class_totals.active_classes() == before + 1  # seen inside its own transaction
    db.session.rollback()
    assert class_totals.active_classes() == before


def test_without_the_kept_row_the_total_is_counted(make_user, login):
    """A database whose row is missing (a table wipe) still answers correctly."""
    from portal.core.models import ClassTotal

    db.session.execute(db.delete(ClassTotal))
    teacher, admin = make_user("teacher"), make_user("admin")
    teacher_api = login(teacher)
    _new_class(teacher_api, "A")
    _new_class(teacher_api, "B")
    assert _admin_total(login(admin)) == 2
