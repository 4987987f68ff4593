"""Input the API must refuse, found by fuzzing it (issue 18, item 6): numbers as date-times,
starts in the past, ids beyond the database's range on any method; and what its answers
and document must always carry (`Allow` on a 405, `$ref`s that resolve)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from werkzeug.routing import IntegerConverter

from portal.api.converters import MAX_ID
from portal.api.framework import ENDPOINTS
from portal.core.models import Class, Schedule
from portal.core.types import utcnow
from portal.extensions import db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
NOT_DATE_TIMES = [0, 1_700_000_000, 1.5, "0", "1700000000", "2026-09-01", True]


def _concrete(rule, number: int) -> str:
    """A URL of `rule`: `number` for every integer part, "x" for any other part."""

    def sample(match: re.Match) -> str:
        return (
            str(number) if isinstance(rule._converters[match.group(1)], IntegerConverter) else "x"
        )

    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", sample, rule.rule)


# The OpenAPI document


def _resolve(document: dict, reference: str):
    assert reference.startswith("#/"), reference
    node = document
    for part in reference[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_in_the_openapi_document_resolves(client):
    """A $ref to nowhere is a body nobody can fuzz or generate a client for: the polls' and
    the recordings' PublishIn both pointed at a `PublishIn` that did not exist."""
    document = client.get("/api/openapi.json").get_json()
    references: list[tuple[str, str]] = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    references.append((value, where))
                else:
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(document, "")
    unresolved = []
    for reference, where in references:
        try:
            _resolve(document, reference)
        except (KeyError, AssertionError):
            unresolved.append(f"{reference} at {where}")
    assert not unresolved, unresolved
    assert len(references) > 200, "the document lost its references"
    for path in ("/api/polls/{poll_id}/publish", "/api/recordings/{recording_id}/publish"):
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]
        assert "published" in _resolve(document, body["$ref"])["properties"], path


# Routing: huge ids and 405s


def test_ids_beyond_the_32_bit_range_are_not_found_whatever_the_method(app, client):
    """PATCH, DELETE and POST of /api/classes/99999999999 answered 405 (the router matched the
    number, refused it, and remembered the GET rule it had passed). Every method of every
    route with an integer part: 2^31 is a 404, 2^31 - 1 still routes."""
    adapter = app.url_map.bind("localhost")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            continue
        for method in sorted(set(rule.methods or ()) & set(METHODS)):
            response = client.open(_concrete(rule, MAX_ID + 1), method=method, json={})
            assert response.status_code == 404, (method, rule.rule, response.status_code)
            adapter.match(_concrete(rule, MAX_ID), method=method)  # the largest id is routed
            checked += 1
    assert checked > 60, "the URL map lost its id routes"


def test_every_405_says_which_methods_the_url_allows(app, client):
    """RFC 9110: a 405 carries `Allow`. Over the whole URL map, every method a URL does not
    have answers 405 with `Allow` naming exactly the methods it has, each of which is not a
    405 itself."""
    adapter = app.url_map.bind("localhost")
    checked = 0
    for url in sorted({_concrete(rule, 1) for rule in app.url_map.iter_rules()}):
        allowed = set(adapter.allowed_methods(url))
        for method in sorted(set(METHODS) - allowed):
            response = client.open(url, method=method, json={})
            assert response.status_code == 405, (method, url, response.status_code)
            header = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
            assert header == allowed, (method, url, response.headers.get("Allow"))
            checked += 1
    assert checked > 150, "the URL map lost its routes"
    api = client.delete("/api/classes")
    assert api.status_code == 405 and api.get_json()["error"]["code"] == "method_not_allowed"
    assert {"GET", "POST"} <= {m.strip() for m in api.headers["Allow"].split(",")}
    assert (
        client.open("/api/classes", method=api.headers["Allow"].split(",")[0].strip()).status_code
        != 405
    )


# Date-times: ISO 8601 text only


def _date_time_fields() -> list[tuple[type, str]]:
    """(model, field) of every date-time or time of day in a request body or query."""
    found = set()
    for spec in ENDPOINTS:
        for model in (spec.body, spec.query):
            if model is None:
                continue
            for name, schema in model.model_json_schema()["properties"].items():
                formats = {schema.get("format")} | {
                    s.get("format") for s in schema.get("anyOf", [])
                }
                if formats & {"date-time", "time"}:
                    found.add((model, name))
    return sorted(found, key=lambda pair: (pair[0].__name__, pair[1]))


def test_every_date_time_the_api_reads_must_be_iso_text():
    """Pydantic read numbers (and numeric strings) as Unix seconds: `"starts_at": 0` was
    1 January 1970. Every date-time field of every body and query refuses them."""
    fields = _date_time_fields()
    assert {
        ("ClassIn", "starts_at"),
        ("ScheduleMoveIn", "starts_at"),
        ("CalendarQuery", "start"),
        ("BlockIn", "expires_at"),
        ("SeriesUpdateIn", "start_time"),
    } <= {(m.__name__, f) for m, f in fields}
    for model, name in fields:
        is_time = model.model_json_schema()["properties"][name].get(
            "format"
        ) == "time" or name.endswith("_time")
        for value in NOT_DATE_TIMES:
            try:
                model.model_validate({name: value})
                problems = []
            except Exception as exc:  # pydantic.ValidationError
                problems = [e["loc"] for e in exc.errors()]
            assert (name,) in problems, (model.__name__, name, value)
        good = "09:30" if is_time else "2030-09-01T09:00:00+02:00"
        try:
            model.model_validate({name: good})
        except Exception as exc:
            assert (name,) not in [e["loc"] for e in exc.errors()], (model.__name__, name, exc)


@pytest.mark.parametrize("value", [0, 1_700_000_000, "1700000000"])
def test_a_number_as_start_creates_no_class_and_moves_nothing(school, login, value):
    teacher = login(school.teacher)
    before = db.session.execute(db.select(db.func.count(Class.id))).scalar_one()
    created = teacher.post(
        "/api/classes", json={"title": "Epoch", "starts_at": value, "duration_minutes": 30}
    )
    assert created.status_code == 400
    error = created.get_json()["error"]
    assert error["code"] == "validation_error" and "ISO 8601" in error["message"]
    assert [d["field"] for d in error["details"]] == ["starts_at"]
    assert db.session.execute(db.select(db.func.count(Class.id))).scalar_one() == before

    start = school.schedule.starts_at
    moved = teacher.patch(f"/api/schedules/{school.schedule.id}", json={"starts_at": value})
    assert moved.status_code == 400 and moved.get_json()["error"]["code"] == "validation_error"
    db.session.expire_all()
    assert db.session.get(Schedule, school.schedule.id).starts_at == start


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:01+01:00", "9999-12-31T23:59:00-23:00", "3000-01-01T00:00:00Z"]
)
def test_a_date_time_outside_the_calendar_is_a_400_not_a_crash(school, login, value):
    """Found by schemathesis: year 1 at +01:00 is year 0 in UTC, and the conversion crashed
    (500)."""
    teacher = login(school.teacher)
    created = teacher.post(
        "/api/classes",
        json={
            "title": "Far",
            "starts_at": value,
            "duration_minutes": 30,
            "rrule": "FREQ=DAILY;COUNT=3",
        },
    )
    assert created.status_code == 400
    assert (
        created.get_json()["error"]["code"] == "validation_error"
        and "years" in created.get_json()["error"]["message"]
    )
    window = teacher.get(
        "/api/schedules", query_string={"start": value, "end": "2030-01-01T00:00:00Z"}
    )
    assert window.status_code == 400


# Starts in the past


def test_a_class_cannot_start_in_the_past(school, login):
    teacher = login(school.teacher)
    before = db.session.execute(db.select(db.func.count(Class.id))).scalar_one()
    yesterday = (utcnow() - timedelta(days=1)).isoformat()
    for payload in (
        {"starts_at": yesterday},
        {"starts_at": yesterday, "rrule": "FREQ=DAILY;COUNT=5"},
    ):  # later ones are future
        response = teacher.post(
            "/api/classes", json={"title": "Yesterday", "duration_minutes": 30, **payload}
        )
        assert response.status_code == 400, payload
        error = response.get_json()["error"]
        assert error["code"] == "start_in_past" and "in the past" in error["message"]
    assert db.session.execute(db.select(db.func.count(Class.id))).scalar_one() == before

    # "Now" picked in a form (whole minutes, a clock a little behind) is not the past.
    just_now = teacher.post(
        "/api/classes",
        json={
            "title": "Right now",
            "starts_at": (utcnow() - timedelta(minutes=1)).isoformat(),
            "duration_minutes": 30,
        },
    )
    assert just_now.status_code == 201, just_now.get_json()


def test_an_occurrence_cannot_be_moved_into_the_past(school, login):
    teacher = login(school.teacher)
    start, end = school.schedule.starts_at, school.schedule.ends_at
    moved = teacher.patch(
        f"/api/schedules/{school.schedule.id}",
        json={"starts_at": (utcnow() - timedelta(hours=3)).isoformat()},
    )
    assert moved.status_code == 400 and moved.get_json()["error"]["code"] == "start_in_past"
    db.session.expire_all()
    schedule = db.session.get(Schedule, school.schedule.id)
    assert (schedule.starts_at, schedule.ends_at) == (start, end)

    # A class that already began may still be made longer: its start does not move.
    schedule.starts_at, schedule.ends_at = (
        utcnow() - timedelta(minutes=30),
        utcnow() + timedelta(minutes=30),
    )
    db.session.commit()
    longer = teacher.patch(
        f"/api/schedules/{schedule.id}",
        json={"starts_at": schedule.starts_at.isoformat(), "duration_minutes": 90},
    )
    assert longer.status_code == 200, longer.get_json()
    assert datetime.fromisoformat(longer.get_json()["ends_at"]) == schedule.starts_at + timedelta(
        minutes=90
    )
