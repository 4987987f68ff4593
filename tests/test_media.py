"""Files shared during a class: type by content, configurable types, size, members only."""

from __future__ import annotations

from content_utils import (  # noqa: F401  (fixtures)
    FAKE_EXE,
    fetch,
    make_pdf,
    make_png,
    moto_s3_fixture,
    storage_kind_fixture,
    upload,
)

from portal.core.models import Media
from portal.extensions import db


def _url(school):
    return f"/api/classes/{school.klass.id}/media"


def test_student_shares_an_image_and_classmates_download_it(school, login, client, storage_kind):
    png = make_png()
    response = upload(
        login(school.student),
        _url(school),
        png,
        "../../diagram.jpeg",
        schedule_id=school.schedule.id,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    # The type and extension come from the content, the name is only cleaned for display.
    assert body["content_type"] == "image/png"
    assert body["filename"] == "diagram.png"
    assert body["schedule_id"] == school.schedule.id

    classmate = login(school.classmate)
    assert [m["id"] for m in classmate.get(_url(school)).get_json()] == [body["id"]]
    link = classmate.get(f"/api/media/{body['id']}/download")
    assert link.status_code == 200
    assert fetch(client, link.get_json()["url"]) == (200, png)

    outsider = login(school.outsider)
    assert outsider.get(_url(school)).status_code == 404
    assert outsider.get(f"/api/media/{body['id']}/download").status_code == 404
    assert upload(outsider, _url(school), png, "x.png").status_code == 404


def test_pdf_is_accepted_and_renamed_exe_is_refused(school, login, storage_kind):
    teacher = login(school.teacher)
    assert (
        upload(teacher, _url(school), make_pdf(), "handout.pdf").get_json()["content_type"]
        == "application/pdf"
    )
    for name in ("photo.png", "handout.pdf", "notes.txt"):
        response = upload(teacher, _url(school), FAKE_EXE, name)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "type_not_allowed"
    assert db.session.execute(db.select(db.func.count(Media.id))).scalar_one() == 1


def test_image_header_with_garbage_body_is_refused(school, login):
    fake_png = b"\x89PNG\r\n\x1a\n" + b"not really an image" * 20
    response = upload(login(school.teacher), _url(school), fake_png, "x.png")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_image"


def test_encrypted_pdf_is_refused_as_media(school, login):
    response = upload(login(school.teacher), _url(school), make_pdf(encrypt=True), "x.pdf")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "encrypted_pdf"


def test_allowed_types_are_configurable(app, school, login):
    teacher = login(school.teacher)
    text = b"Homework: exercises 1-4, page 12.\n"
    refused = upload(teacher, _url(school), text, "homework.txt")
    assert refused.status_code == 400
    assert "text/plain" in refused.get_json()["error"]["message"]

    app.config["MEDIA_ALLOWED_TYPES"] = "text/plain, application/pdf"
    accepted = upload(teacher, _url(school), text, "homework")
    assert accepted.status_code == 201
    assert (accepted.get_json()["content_type"], accepted.get_json()["filename"]) == (
        "text/plain",
        "homework.txt",
    )
    assert upload(teacher, _url(school), make_png(), "a.png").status_code == 400


def test_oversized_media_is_413(app, school, login):
    app.config["MEDIA_MAX_BYTES"] = 100
    response = upload(login(school.student), _url(school), make_png((64, 64)), "big.png")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "file_too_large"
    empty = upload(login(school.student), _url(school), b"", "empty.png")
    assert empty.status_code == 400


def test_schedule_must_belong_to_the_class(school, login, make_user):
    from content_utils import past_class

    _, other_schedule = past_class(school.teacher, [])
    response = upload(
        login(school.student), _url(school), make_png(), "a.png", schedule_id=other_schedule.id
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_schedule"


def test_only_uploader_or_teacher_deletes(school, login, storage_kind):
    mid = upload(login(school.student), _url(school), make_png(), "a.png").get_json()["id"]
    assert login(school.classmate).delete(f"/api/media/{mid}").status_code == 403
    assert login(school.student).delete(f"/api/media/{mid}").status_code == 204
    mid = upload(login(school.student), _url(school), make_png(), "b.png").get_json()["id"]
    assert login(school.teacher).delete(f"/api/media/{mid}").status_code == 204
    assert db.session.execute(db.select(db.func.count(Media.id))).scalar_one() == 0
