"""The SFU worker's refusals reach WHIP/WHEP clients and the room page in the reader's
language: the worker has no locale, so it sends the English catalogue entry and its
values, and the portal translates them when it answers (codes unchanged)."""

from __future__ import annotations

import asyncio

import pytest
from sfu_helpers import Publisher, Viewer

pytestmark = pytest.mark.xdist_group("media")


def _offer(client, url: str, token: str, sdp: str, language: str):
    return client.post(
        url,
        data=sdp.encode(),
        headers={"Authorization": f"Bearer {token}", "Accept-Language": language},
        content_type="application/sdp",
    )


def test_the_workers_refusals_are_translated_with_their_values(sfu, login, client):
    started = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    assert started.status_code == 200, started.get_json()
    embed = started.get_json()["join"]["embed"]

    async def scenario():
        early = Viewer()
        await early.pc.setLocalDescription(await early.pc.createOffer())
        nobody = _offer(
            client, embed["whep_url"], embed["token"], early.pc.localDescription.sdp, "fr"
        )
        await early.close()
        two_videos = Publisher()
        two_videos.pc.addTransceiver("video", direction="sendonly")
        too_many = _offer(client, embed["whip_url"], embed["token"], await two_videos.offer(), "es")
        await two_videos.close()
        return nobody, too_many

    nobody, too_many = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert nobody.get_json()["error"] == {
        "code": "no_publisher",
        "message": "personne ne diffuse encore dans cette salle",
    }
    assert too_many.get_json()["error"] == {
        "code": "too_many_tracks",
        "message": "como máximo 1 pista de audio y 1 de vídeo por sesión (la oferta tiene 0 de "
        "audio, 2 de vídeo); use una sesión por cámara o pantalla",
    }
