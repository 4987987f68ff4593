"""The class list's total is right on every page, also when the count query is skipped because
a page that is not full ends the list."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core import classes
from portal.core.types import utcnow
from portal.extensions import db


@pytest.mark.parametrize(
    "offset,limit,expected_items",
    [(0, 50, 5), (0, 2, 2), (2, 2, 2), (4, 2, 1), (5, 2, 0), (9, 2, 0)],
)
def test_total_is_the_number_of_classes_whatever_the_page(
    make_user, login, offset, limit, expected_items
):
    teacher = make_user("teacher")
    make_user("teacher")  # someone else's classes are not counted
    for n in range(5):
        classes.create_class(
            teacher,
            classes.ClassInput(
                title=f"Class {n}", starts_at=utcnow() + timedelta(days=1), duration_minutes=30
            ),
        )
    db.session.commit()
    page = login(teacher).get("/api/classes", query_string={"offset": offset, "limit": limit})
    assert page.status_code == 200
    assert page.json["total"] == 5
    assert len(page.json["items"]) == expected_items
