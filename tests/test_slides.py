"""Slide decks: PDF validation by content, order, deletion, download, hand-over at start."""

from __future__ import annotations

from content_utils import FAKE_EXE, fetch, make_pdf, moto_s3_fixture, storage_kind_fixture, upload  # noqa: F401
from fake_backend import FAKE

from portal.core import storage
from portal.core.models import AuditLog, Slide
from portal.extensions import db


def _url(school):
    return f"/api/classes/{school.klass.id}/slides"


def test_teacher_uploads_pdf_and_members_download_it(school, login, client, storage_kind):
    teacher, student = login(school.teacher), login(school.student)
    pdf = make_pdf(pages=3)
    response = upload(teacher, _url(school), pdf, "Week 1.pdf")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["filename"], body["page_count"], body["size_bytes"], body["position"]) == (
        "Week 1.pdf",
        3,
        len(pdf),
        0,
    )

    listed = student.get(_url(school)).get_json()
    assert [s["id"] for s in listed] == [body["id"]]
    link = student.get(f"/api/slides/{body['id']}/download")
    assert link.status_code == 200
    assert fetch(client, link.get_json()["url"]) == (200, pdf)
    assert login(school.outsider).get(f"/api/slides/{body['id']}/download").status_code == 404


def test_renamed_exe_is_refused_as_not_a_pdf(school, login):
    response = upload(login(school.teacher), _url(school), FAKE_EXE, "slides.pdf")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "not_a_pdf"
    assert db.session.execute(db.select(db.func.count(Slide.id))).scalar_one() == 0


def test_encrypted_pdf_is_refused(school, login):
    response = upload(login(school.teacher), _url(school), make_pdf(encrypt=True), "locked.pdf")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "encrypted_pdf"


def test_damaged_pdf_is_refused(school, login):
    response = upload(
        login(school.teacher), _url(school), b"%PDF-1.7\n" + b"\x00garbage" * 50, "broken.pdf"
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_pdf"


def test_oversized_and_too_long_pdfs_are_refused(app, school, login):
    teacher = login(school.teacher)
    pdf = make_pdf(pages=2)
    app.config["SLIDE_MAX_BYTES"] = len(pdf) - 1
    response = upload(teacher, _url(school), pdf, "big.pdf")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "file_too_large"

    app.config["SLIDE_MAX_BYTES"] = 10_000_000
    app.config["SLIDE_MAX_PAGES"] = 1
    response = upload(teacher, _url(school), pdf, "long.pdf")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "too_many_pages"


def test_request_beyond_the_global_body_limit_is_413(app, school, login):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = upload(login(school.teacher), _url(school), make_pdf() + bytes(2048), "x.pdf")
    assert response.status_code == 413


def test_students_cannot_upload_and_missing_file_is_explained(school, login):
    assert upload(login(school.student), _url(school), make_pdf(), "a.pdf").status_code == 403
    response = login(school.teacher).post(_url(school), json={})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "file_missing"


def test_reorder_and_delete(school, login, storage_kind):
    teacher = login(school.teacher)
    ids = [upload(teacher, _url(school), make_pdf(), f"{n}.pdf").get_json()["id"] for n in range(3)]
    reordered = teacher.client.put(
        f"{_url(school)}/order",
        json={"slide_ids": [ids[2], ids[0], ids[1]]},
        headers=teacher._headers(),
    )
    assert reordered.status_code == 200
    assert [s["id"] for s in reordered.get_json()] == [ids[2], ids[0], ids[1]]
    assert [s["id"] for s in teacher.get(_url(school)).get_json()] == [ids[2], ids[0], ids[1]]

    incomplete = teacher.client.put(
        f"{_url(school)}/order", json={"slide_ids": [ids[0], ids[1]]}, headers=teacher._headers()
    )
    assert incomplete.status_code == 400
    assert incomplete.get_json()["error"]["code"] == "invalid_order"

    key = db.session.get(Slide, ids[0]).storage_key
    assert login(school.student).delete(f"/api/slides/{ids[0]}").status_code == 403
    assert teacher.delete(f"/api/slides/{ids[0]}").status_code == 204
    assert [s["id"] for s in teacher.get(_url(school)).get_json()] == [ids[2], ids[1]]
    db.session.expire_all()
    try:
        storage.get_storage().read(key)
        raise AssertionError("the stored PDF should be gone")
    except Exception as exc:
        assert getattr(exc, "status", None) == 404
    actions = set(db.session.execute(db.select(AuditLog.action)).scalars())
    assert {"slide.upload", "slide.reorder", "slide.delete"} <= actions


def test_slides_are_handed_to_the_backend_at_start_in_order(school, login, client, storage_kind):
    teacher = login(school.teacher)
    first, second = make_pdf(pages=1), make_pdf(pages=2)
    a = upload(teacher, _url(school), first, "a.pdf").get_json()["id"]
    b = upload(teacher, _url(school), second, "b.pdf").get_json()["id"]
    teacher.client.put(
        f"{_url(school)}/order", json={"slide_ids": [b, a]}, headers=teacher._headers()
    )

    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    spec = FAKE.created[-1][1]
    assert [s.filename for s in spec.slides] == ["b.pdf", "a.pdf"]
    assert spec.slides[0].read() == second
    assert fetch(client, spec.slides[1].url) == (200, first)
