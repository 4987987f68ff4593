"""What BigBlueButton's health checks and failures say is in the reader's language, whole:
the portal's sentence and the reason inside it (the BBB client's own texts), not French
around an English middle (#22)."""

from __future__ import annotations

import pytest
from portal_testing import free_port

from portal.core.models import BackendConfig, Meeting
from portal.extensions import db


def _french(api, user):
    chosen = api.patch(f"/api/users/{user.id}", json={"locale": "fr"})
    assert chosen.status_code == 200, chosen.get_json()
    return api


@pytest.fixture
def french_admin(make_user, login):
    admin = make_user("admin")
    return _french(login(admin), admin)


def _test(admin, **settings) -> dict:
    created = admin.post(
        "/api/admin/backends",
        json={"name": settings.pop("name", "BBB"), "backend": "bbb", "settings": settings},
    )
    assert created.status_code == 201, created.get_json()
    config_id = created.get_json()["id"]
    result = admin.post(f"/api/admin/backends/{config_id}/test").get_json()
    stored = db.session.get(BackendConfig, config_id)
    db.session.refresh(stored)
    assert stored.health_message == result["message"]  # what the backends page shows later
    return result


def test_a_french_admins_health_check_on_bbb_reads_french(french_admin, sim):
    working = _test(french_admin, url=sim.api_url, secret=sim.secret)
    assert working["ok"] is True
    assert working["message"] == (
        "BigBlueButton 3.0.4 répond ; le secret partagé et les sommes de contrôle sha256 "
        "sont acceptés"
    )

    wrong = _test(french_admin, name="wrong", url=sim.api_url, secret="definitely-not-it")
    assert wrong["message"] == (
        "secret partagé incorrect (checksumError) : le serveur a rejeté notre somme de "
        "contrôle ; vérifiez le secret et qu'il accepte sha256"
    )

    down_url = f"http://127.0.0.1:{free_port()}/bigbluebutton/api/"  # nobody listens there
    down = _test(french_admin, name="down", url=down_url, secret="whatever-secret")
    assert down["message"] == (
        f"BigBlueButton injoignable à {down_url} : "
        "impossible de se connecter au serveur BigBlueButton"
    )

    sim.garbage = True
    garbled = _test(french_admin, name="garbled", url=sim.api_url, secret=sim.secret)
    assert garbled["message"] == (
        f"pas une API BigBlueButton à {sim.api_url} : la réponse du serveur n'est pas une "
        "réponse de l'API BigBlueButton ; vérifiez l'URL"
    )


def test_an_english_admin_still_reads_english(make_user, login, sim):
    admin = login(make_user("admin"))
    result = _test(admin, url=sim.api_url, secret="definitely-not-it")
    assert result["message"].startswith("wrong shared secret (checksumError)")


def test_a_french_teachers_start_against_an_unreachable_bbb_is_french_through_and_through(
    school, login, sim
):
    sim.close()
    teacher = _french(login(school.teacher), school.teacher)
    response = teacher.post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "bbb_unreachable"  # the code never changes
    assert error["message"] == (
        "le serveur de visioconférence (BBB) est injoignable pour le moment : "
        "impossible de se connecter au serveur BigBlueButton"
    )
    assert db.session.execute(db.select(Meeting)).first() is None


def test_bbbs_own_refusal_keeps_the_servers_words_inside_the_french_sentence(school, login, sim):
    sim.fail_calls["create"] = "maxParticipants"
    teacher = _french(login(school.teacher), school.teacher)
    response = teacher.post(f"/api/schedules/{school.schedule.id}/start")
    error = response.get_json()["error"]
    # The server's own `message` is its words, as it came; the rest is French.
    assert (
        "BigBlueButton a refusé create : simulated failure of create (maxParticipants)"
        in (error["message"])
    ), error
