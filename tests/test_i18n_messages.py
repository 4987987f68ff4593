"""Messages with values in the reader's language: an API error that names a value (a backend,
a page number, a file type, a backup's schema) is one translated sentence with the value inside
and the same `code`; Pydantic's validation details are said again in the language too."""

from __future__ import annotations

import json

import pytest
from content_utils import FAKE_EXE, make_pdf, upload  # noqa: F401

from portal.core import backup, presentations, slides
from portal.core.errors import PortalError
from portal.extensions import db
from portal.i18n import force_locale


def _speaking(api, user, language: str):
    chosen = api.patch(f"/api/users/{user.id}", json={"locale": language})
    assert chosen.status_code == 200, chosen.get_json()
    return api


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def test_an_unknown_backend_is_named_inside_the_french_and_arabic_sentence(make_user, login):
    user = make_user("admin")
    body = {"name": "S", "backend": "nope", "settings": {}}
    expected = {
        "en": "no installed meeting backend is called 'nope'",
        "fr": "aucun service de visioconférence installé ne s'appelle « nope »",
        "ar": "لا توجد خدمة اجتماعات مثبّتة باسم 'nope'",
    }
    for language, message in expected.items():
        admin = _speaking(login(user), user, language)
        error = _error(admin.post("/api/admin/backends", json=body), 400)
        assert (error["code"], error["message"]) == ("unknown_backend", message)


def test_a_page_out_of_range_names_the_page_and_the_count_in_french(school, login):
    deck = slides.upload_slide(school.teacher, school.klass.id, "lesson.pdf", make_pdf(3))
    db.session.commit()
    teacher = _speaking(login(school.teacher), school.teacher, "fr")
    sid = school.schedule.id
    shown = teacher.client.put(
        f"/api/schedules/{sid}/presentation",
        json={"slide_id": deck.id},
        headers=teacher._headers(),
    )
    assert shown.status_code == 200, shown.get_json()
    error = _error(teacher.post(f"/api/schedules/{sid}/presentation/page", json={"page": 7}), 422)
    assert error["code"] == "page_out_of_range"
    assert error["message"] == "la page 7 n'existe pas : cette présentation a les pages 1 à 3"


def test_a_refused_file_type_lists_the_allowed_types_in_french(school, login):
    student = _speaking(login(school.student), school.student, "fr")
    url = f"/api/classes/{school.klass.id}/media"
    error = _error(upload(student, url, FAKE_EXE, "photo.png"), 400)
    assert error["code"] == "type_not_allowed"
    assert error["message"].startswith("ce fichier est ")
    assert "(détecté d'après son contenu) ; autorisés : " in error["message"]
    assert "image/png" in error["message"]  # the value is substituted, not a placeholder
    assert "%(" not in error["message"]


def test_a_backup_of_another_schema_is_refused_in_the_schools_language(app, tmp_path):
    """Into an empty database (the import refuses any other first)."""
    exported = tmp_path / "backup.ndjson"
    header = {"format": backup.FORMAT, "version": backup.VERSION, "schema": "9999_future"}
    exported.write_text(json.dumps(header | {"tables": {}}) + "\n")
    with app.test_request_context(), force_locale("fr"):
        try:
            backup.import_from(exported)
        except PortalError as exc:
            refused = exc
        else:
            raise AssertionError("a backup of another schema was loaded")
    db.session.rollback()
    assert refused.code == "schema_mismatch"
    assert refused.message.startswith("la sauvegarde est au schéma 9999_future, cette base")
    assert "lancez `portal db upgrade` jusqu'à la même révision" in refused.message


def test_validation_details_are_in_french_with_pydantics_type_and_loc(client):
    """A bad login body: the summary and every detail are French; `type` and `loc` are
    Pydantic's own stable identifiers, the same in every language."""
    answers = {
        language: client.post(
            "/api/auth/login",
            json={"email": "ab", "password": 5, "extra": 1},
            headers={"Accept-Language": language},
        )
        for language in ("en", "fr")
    }
    english, french = (_error(answers[lang], 400) for lang in ("en", "fr"))
    assert english["code"] == french["code"]
    by_field = {d["field"]: d for d in french["details"]}
    assert by_field["email"]["message"] == "doit comporter au moins 3 caractères"
    assert by_field["password"]["message"] == "doit être un texte"
    assert by_field["extra"]["message"] == "ce champ n'est pas accepté ici"
    assert [(d["type"], d["loc"]) for d in french["details"]] == [
        (d["type"], d["loc"]) for d in english["details"]
    ]
    assert {d["type"] for d in french["details"]} == {
        "string_too_short",
        "string_type",
        "extra_forbidden",
    }
    assert french["message"].startswith("email : doit comporter au moins 3 caractères")
    missing = _error(
        client.post("/api/auth/login", json={}, headers={"Accept-Language": "fr"}), 400
    )
    assert {(d["field"], d["type"], d["message"]) for d in missing["details"]} == {
        ("email", "missing", "ce champ est obligatoire"),
        ("password", "missing", "ce champ est obligatoire"),
    }


def test_an_ill_formed_date_time_is_explained_in_french(school, login):
    """Our own validators' sentences (schemas.py) are translated too."""
    teacher = _speaking(login(school.teacher), school.teacher, "fr")
    created = teacher.post(
        "/api/classes", json={"title": "Epoch", "starts_at": 0, "duration_minutes": 30}
    )
    error = _error(created, 400)
    (detail,) = [d for d in error["details"] if d["field"] == "starts_at"]
    assert detail["type"] == "value_error"
    assert detail["message"].startswith("doit être une date-heure ISO 8601")


def test_an_ill_formed_stroke_names_its_field_in_a_whole_french_sentence(app):
    """Each checked field of a stroke has its own sentence (no English field name glued into
    a French one); the live panel's socket sends strokes here without the API's schema."""
    line = {"tool": "pen", "color": "#ff0000", "width": 0.01, "points": [[0.1, 0.1], [0.9, 0.9]]}
    answers = {
        "l'épaisseur du trait doit être un nombre": {**line, "width": "thick"},
        "l'épaisseur du trait doit être comprise entre 0.0005 et 0.05": {**line, "width": 3},
        "la coordonnée d'un point doit être un nombre": {**line, "points": [[0.1, "x"]]},
        "la coordonnée d'un point doit être comprise entre 0.0 et 1.0": {
            **line,
            "points": [[1.5, 0.2]],
        },
    }
    with app.test_request_context(), force_locale("fr"):
        for expected, body in answers.items():
            with pytest.raises(PortalError) as refused:
                presentations.validate_stroke(body)
            assert (refused.value.code, refused.value.message) == ("invalid_stroke", expected)
