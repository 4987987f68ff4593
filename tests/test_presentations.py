"""Slides and the whiteboard in the room over REST: who may present, turn pages and draw,
the bad inputs that change nothing, the rendered page images, and the annotated export."""

from __future__ import annotations

import io

import pytest
from content_utils import make_pdf, moto_s3_fixture, storage_kind_fixture  # noqa: F401

from portal.core import classes, live_state, presentations, slides
from portal.core.models import BoardStroke, LivePresentation
from portal.extensions import db

RED = "#ff0000"


@pytest.fixture
def events():
    """Every live event the core announces during the test: (event, audience, payload)."""
    seen: list[tuple[str, str, dict]] = []

    def record(_sender, *, event, payload, audience, **_):
        seen.append((event, audience, payload))

    live_state.live_event.connect(record)
    yield seen
    live_state.live_event.disconnect(record)


@pytest.fixture
def deck(school):
    deck = slides.upload_slide(school.teacher, school.klass.id, "lesson.pdf", make_pdf(3))
    db.session.commit()
    return deck


def put(api, url, json):
    return api.client.put(url, json=json, headers=api._headers())


def stroke(**overrides):
    body = {"tool": "pen", "color": RED, "width": 0.01, "points": [[0.1, 0.1], [0.9, 0.9]]}
    body.update(overrides)
    return body


def stored() -> tuple[tuple | None, int]:
    """(slide_id, page, co_presenting) of the presentation row, and how many strokes exist."""
    db.session.expire_all()
    row = db.session.execute(db.select(LivePresentation)).scalar_one_or_none()
    count = db.session.execute(db.select(db.func.count(BoardStroke.id))).scalar_one()
    return ((row.slide_id, row.page, row.co_presenting) if row else None), count


def test_teacher_presents_and_turns_pages_and_everyone_is_told(school, login, deck, events):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    shown = put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id})
    assert shown.status_code == 200, shown.get_json()
    assert shown.get_json()["page_count"] == 3 and shown.get_json()["page"] == 1
    turned = teacher.post(f"/api/schedules/{sid}/presentation/page", json={"page": 3})
    assert turned.status_code == 200 and turned.get_json()["page"] == 3
    seen = student.get(f"/api/schedules/{sid}/presentation").get_json()
    assert (seen["slide_id"], seen["page"], seen["may_present"]) == (deck.id, 3, False)
    pages = [(p["page"], a) for e, a, p in events if e == "slides:page"]
    assert pages == [(1, "room"), (3, "room")]


def test_every_change_raises_the_revision_that_every_state_carries(school, login, deck, events):
    """Pages order the states they receive (acks, pushes, refreshes) by revision: each
    change answers and announces a higher one than any state read before it, and a refused
    change leaves it where it was."""
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    state = f"/api/schedules/{sid}/presentation"
    seen = [student.get(state).get_json()["revision"]]
    changes = [
        lambda: put(teacher, state, json={"slide_id": deck.id}),
        lambda: teacher.post(f"{state}/page", json={"page": 2}),
        lambda: put(teacher, f"{state}/co-presenting", json={"allowed": True}),
        lambda: put(teacher, f"{state}/co-presenting", json={"allowed": False}),
        lambda: put(teacher, state, json={}),  # the blank board
        lambda: teacher.post(f"{state}/page", json={"page": 2}),  # adds a board page
        lambda: put(teacher, state, json={"slide_id": deck.id, "page": 3}),
    ]
    for change in changes:
        answer = change()
        assert answer.status_code == 200, answer.get_json()
        revision = answer.get_json()["revision"]
        assert revision > seen[-1]
        assert student.get(state).get_json()["revision"] == revision
        seen.append(revision)
    pushed = [p["revision"] for e, _a, p in events if e == "slides:page"]
    assert pushed == seen[1:]
    refused = teacher.post(f"{state}/page", json={"page": 9})
    assert refused.status_code == 422
    assert student.get(state).get_json()["revision"] == seen[-1]


def test_deleting_the_presented_deck_shows_the_board_as_a_new_revision(school, login, deck, events):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    state = f"/api/schedules/{sid}/presentation"
    shown = put(teacher, state, json={"slide_id": deck.id, "page": 3}).get_json()
    events[:] = []
    assert teacher.delete(f"/api/slides/{deck.id}").status_code == 204
    seen = student.get(state).get_json()
    assert (seen["active"], seen["board"], seen["slide_id"], seen["page"]) == (True, True, None, 1)
    assert seen["page_count"] == 1 and seen["revision"] > shown["revision"]
    pushed = [p for e, _a, p in events if e == "slides:page"]
    assert [(p["board"], p["page"], p["revision"]) for p in pushed] == [(True, 1, seen["revision"])]


def test_a_page_out_of_range_is_refused_and_nothing_changes(school, login, deck, events):
    sid = school.schedule.id
    teacher = login(school.teacher)
    put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id, "page": 2})
    before, events[:] = stored(), []
    for page in (4, 99):
        answer = teacher.post(f"/api/schedules/{sid}/presentation/page", json={"page": page})
        assert answer.status_code == 422
        assert answer.get_json()["error"]["code"] == "page_out_of_range"
        assert "pages 1 to 3" in answer.get_json()["error"]["message"]
    bad = put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id, "page": 5})
    assert bad.status_code == 422
    assert stored() == before and events == []


def test_another_class_s_deck_cannot_be_presented(school, login, deck):
    other = classes.create_class(
        school.other_teacher,
        classes.ClassInput(
            title="Other", starts_at=school.schedule.starts_at, duration_minutes=30, timezone="UTC"
        ),
    )
    foreign = slides.upload_slide(school.other_teacher, other.id, "x.pdf", make_pdf(2))
    db.session.commit()
    answer = put(
        login(school.teacher),
        f"/api/schedules/{school.schedule.id}/presentation",
        json={"slide_id": foreign.id},
    )
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"
    assert stored() == (None, 0)


def test_a_student_turns_pages_only_with_the_floor_and_the_teacher_s_leave(school, login, deck):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id})

    def turn():
        return student.post(f"/api/schedules/{sid}/presentation/page", json={"page": 2})

    refused = turn()
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_presenter"
    # The floor alone is not enough...
    teacher.post(
        f"/api/schedules/{sid}/floor/grant", json={"user_id": school.student.id, "mic": True}
    )
    assert turn().status_code == 403
    # ...nor co-presenting without the floor (the classmate).
    put(teacher, f"/api/schedules/{sid}/presentation/co-presenting", json={"allowed": True})
    other = login(school.classmate).post(
        f"/api/schedules/{sid}/presentation/page", json={"page": 2}
    )
    assert other.status_code == 403
    assert stored()[0] == (deck.id, 1, True)
    assert turn().status_code == 200
    assert stored()[0] == (deck.id, 2, True)
    # Students cannot present another deck or allow themselves.
    assert put(student, f"/api/schedules/{sid}/presentation", json={}).status_code == 403
    co = put(student, f"/api/schedules/{sid}/presentation/co-presenting", json={"allowed": False})
    assert co.status_code == 403


def test_a_stroke_from_a_student_without_the_floor_is_refused_and_reaches_no_one(
    school, login, deck, events
):
    sid = school.schedule.id
    put(login(school.teacher), f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id})
    put(
        login(school.teacher),
        f"/api/schedules/{sid}/presentation/co-presenting",
        json={"allowed": True},
    )
    events[:] = []
    answer = login(school.student).post(f"/api/schedules/{sid}/strokes", json=stroke())
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "not_presenter"
    assert "floor" in answer.get_json()["error"]["message"]
    assert stored()[1] == 0 and events == []


def test_strokes_are_stored_per_page_and_late_joiners_get_the_current_page_s(
    school, login, deck, events
):
    sid = school.schedule.id
    teacher = login(school.teacher)
    put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id})
    drawn = teacher.post(f"/api/schedules/{sid}/strokes", json=stroke(slide_id=deck.id, page=1))
    assert drawn.status_code == 201, drawn.get_json()
    assert [e for e, _a, _p in events if e == "board:stroke"] == ["board:stroke"]
    teacher.post(f"/api/schedules/{sid}/presentation/page", json={"page": 2})
    teacher.post(f"/api/schedules/{sid}/strokes", json=stroke(tool="rect", color="#00ff00"))
    late = login(school.classmate).get(f"/api/schedules/{sid}/presentation").get_json()
    assert [(s["page"], s["tool"]) for s in late["strokes"]] == [(2, "rect")]
    page1 = login(school.classmate).get(f"/api/schedules/{sid}/strokes?slide_id={deck.id}&page=1")
    assert [s["color"] for s in page1.get_json()] == [RED]
    # A stroke drawn on page 1 after the page turned to 2 is refused, not put on page 2.
    stale = teacher.post(f"/api/schedules/{sid}/strokes", json=stroke(slide_id=deck.id, page=1))
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "page_changed"
    assert stored()[1] == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (stroke(points=[[0.123456789, 0.987654321]] * 3000), 413, "stroke_too_large"),
        (stroke(points=[[0, 0]] * 2001), 400, "too_many_points"),
        (stroke(text="x" * 70_000, tool="text", points=[[0.1, 0.1]]), 413, "stroke_too_large"),
        (stroke(tool="spray"), 400, "invalid_stroke"),
        (stroke(color="red"), 400, "invalid_stroke"),
        (stroke(points=[[1.5, 0.2]]), 400, "invalid_stroke"),
        (stroke(points=[]), 400, "invalid_stroke"),
        (stroke(tool="line", points=[[0.1, 0.1]]), 400, "invalid_stroke"),
        (stroke(width=3), 400, "invalid_stroke"),
        (stroke(tool="text", points=[[0.1, 0.1]]), 400, "invalid_stroke"),
    ],
)
def test_oversized_or_ill_formed_strokes_are_refused_and_nothing_is_stored(
    school, login, deck, events, body, status, code
):
    sid = school.schedule.id
    teacher = login(school.teacher)
    put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id})
    events[:] = []
    answer = teacher.post(f"/api/schedules/{sid}/strokes", json=body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"]["code"] == code
    assert stored()[1] == 0 and events == []


def test_undo_erase_and_clear(school, login, deck, events):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id})
    put(teacher, f"/api/schedules/{sid}/presentation/co-presenting", json={"allowed": True})
    teacher.post(
        f"/api/schedules/{sid}/floor/grant", json={"user_id": school.student.id, "mic": True}
    )
    mine = teacher.post(f"/api/schedules/{sid}/strokes", json=stroke()).get_json()["id"]
    theirs = student.post(f"/api/schedules/{sid}/strokes", json=stroke()).get_json()["id"]
    # A student erases only their own strokes; undo removes the actor's own last one.
    refused = student.delete(f"/api/schedules/{sid}/strokes/{mine}")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_your_stroke"
    undone = teacher.post(f"/api/schedules/{sid}/strokes/undo")
    assert undone.get_json() == {"stroke_ids": [mine]}
    again = teacher.post(f"/api/schedules/{sid}/strokes/undo")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "nothing_to_undo"
    student.post(f"/api/schedules/{sid}/strokes", json=stroke())
    assert student.delete(f"/api/schedules/{sid}/strokes/{theirs}").status_code == 200
    assert stored()[1] == 1
    assert student.delete(f"/api/schedules/{sid}/strokes").status_code == 403
    cleared = teacher.delete(f"/api/schedules/{sid}/strokes")
    assert cleared.status_code == 200 and cleared.get_json() == {"removed": 1}
    assert stored()[1] == 0
    assert [e for e, _a, _p in events if e.startswith("board:")] == [
        "board:stroke",
        "board:stroke",
        "board:erased",
        "board:stroke",
        "board:erased",
        "board:cleared",
    ]


def test_the_blank_board_grows_a_page_when_turned_past_its_last(school, login):
    sid = school.schedule.id
    teacher = login(school.teacher)
    board = put(teacher, f"/api/schedules/{sid}/presentation", json={}).get_json()
    assert (board["board"], board["page"], board["page_count"]) == (True, 1, 1)
    grown = teacher.post(f"/api/schedules/{sid}/presentation/page", json={"page": 2}).get_json()
    assert (grown["page"], grown["page_count"]) == (2, 2)
    skipped = teacher.post(f"/api/schedules/{sid}/presentation/page", json={"page": 4})
    assert skipped.status_code == 422


def test_page_images_for_members_only_cached_by_content(school, login, storage_kind):
    """On the local folder and on S3 alike."""
    deck = slides.upload_slide(school.teacher, school.klass.id, "lesson.pdf", make_pdf(3))
    db.session.commit()
    url = f"/api/slides/{deck.id}/pages/2?width=500"
    image = login(school.student).get(url)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert "private" in image.headers["Cache-Control"] and image.headers["ETag"]
    from PIL import Image

    assert Image.open(io.BytesIO(image.data)).width == presentations.snap_width(500) == 960
    student = login(school.student)
    again = student.client.get(
        url, headers={**student._headers(), "If-None-Match": image.headers["ETag"]}
    )
    assert again.status_code == 304
    outsider = login(school.outsider).get(url)
    assert outsider.status_code == 404 and outsider.get_json()["error"]["code"] == "not_found"
    out_of_range = login(school.student).get(f"/api/slides/{deck.id}/pages/4")
    assert out_of_range.status_code == 422
    assert out_of_range.get_json()["error"]["code"] == "page_out_of_range"
    # The cache is keyed by the PDF's content: the same file uploaded again reuses it.
    key = f"slide-pages/{deck.content_sha256}/2-960.png"
    from portal.core import storage

    assert storage.read_bytes(key) == image.data


def test_the_annotated_export_has_every_page_with_its_strokes(school, login, storage_kind):
    import pypdfium2

    deck = slides.upload_slide(school.teacher, school.klass.id, "lesson.pdf", make_pdf(3))
    db.session.commit()

    sid = school.schedule.id
    teacher = login(school.teacher)
    assert teacher.get(f"/api/schedules/{sid}/presentation/export").status_code == 404
    put(teacher, f"/api/schedules/{sid}/presentation", json={"slide_id": deck.id, "page": 2})
    # A thick red stroke across the middle of page 2.
    teacher.post(
        f"/api/schedules/{sid}/strokes",
        json=stroke(width=0.04, points=[[0.1, 0.5], [0.9, 0.5]]),
    )
    put(teacher, f"/api/schedules/{sid}/presentation", json={})  # then the blank board
    teacher.post(f"/api/schedules/{sid}/strokes", json=stroke(color="#0000ff", width=0.04))
    assert login(school.student).get(f"/api/schedules/{sid}/presentation/export").status_code == 403
    export = teacher.get(f"/api/schedules/{sid}/presentation/export")
    assert export.status_code == 200 and export.mimetype == "application/pdf"
    pdf = pypdfium2.PdfDocument(export.data)
    assert len(pdf) == 3 + 1  # the deck's pages, then the board page

    def pixel(index: int, x: float, y: float) -> tuple:
        image = pdf[index].render(scale=1).to_pil().convert("RGB")
        return image.getpixel((int(x * image.width), int(y * image.height)))

    red = pixel(1, 0.5, 0.5)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert min(pixel(0, 0.5, 0.5)) > 230  # page 1 has no strokes: white
    blue = pixel(3, 0.5, 0.5)
    assert blue[2] > 200 and blue[0] < 60


def test_the_room_has_the_board_unless_the_backend_presents_itself(school, client):
    """BigBlueButton keeps its own presentation and whiteboard (capabilities.presentation):
    its room shows no portal viewer; the other backends' rooms do."""
    from portal_testing import PASSWORD

    from portal.core.models import BackendConfig

    sid = school.schedule.id
    signed_in = client.post(
        "/api/auth/login", json={"email": school.teacher.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    assert 'id="panel-board"' in client.get(f"/schedules/{sid}").get_data(as_text=True)
    bbb = BackendConfig(name="BBB", backend="bbb", enabled=True, is_default=False, settings={})
    db.session.add(bbb)
    db.session.flush()
    school.klass.backend_config_id = bbb.id
    db.session.commit()
    page = client.get(f"/schedules/{sid}")
    assert page.status_code == 200
    assert 'id="panel-board"' not in page.get_data(as_text=True)


def test_the_class_page_links_the_teacher_to_the_annotated_pdf(school, client, login):
    from portal_testing import PASSWORD

    sid = school.schedule.id
    export = f"/api/schedules/{sid}/presentation/export"

    def class_page(user) -> str:
        client._cookies.clear()
        client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        return client.get(f"/classes/{school.klass.id}").get_data(as_text=True)

    assert export not in class_page(school.teacher)  # nothing presented yet
    put(login(school.teacher), f"/api/schedules/{sid}/presentation", {})
    assert export in class_page(school.teacher)
    assert export not in class_page(school.student)
