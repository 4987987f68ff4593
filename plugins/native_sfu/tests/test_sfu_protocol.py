"""WHIP/WHEP HTTP details: CORS, ICE-server Link headers, the client's vs the server's ICE
servers, 401/405/413/501 answers and the /sfu routes in /api/openapi.json."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import urllib.request
from urllib.parse import urlsplit

from aioice import stun
from sfu_helpers import Publisher, Viewer, post_sdp

from portal.core.models import BackendConfig
from portal.extensions import db

OTHER_ORIGIN = "http://127.0.0.2:8080"


def configure(sfu, **settings) -> None:
    config = db.session.get(BackendConfig, sfu.sfu_config.id)
    config.settings = settings
    db.session.commit()


def start_class(sfu, login) -> dict:
    response = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["join"]["embed"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def an_offer() -> str:
    publisher = Publisher(160, 120)
    sdp = await publisher.offer()
    await publisher.close()
    return sdp


# Item 22: OPTIONS, 401, 405, 413, PATCH


def test_options_lists_the_client_ice_servers_as_links_only_for_members(sfu, login, portal_url):
    configure(
        sfu,
        stun_urls=["stun:stun.school.example:3478"],
        turn_urls=["turn:turn.school.example"],
        turn_username="portal",
        turn_credential="s3cret",
    )
    embed = start_class(sfu, login)
    outsider = login(sfu.outsider).token

    def options(token: str | None):
        # Over real HTTP: each request gets a fresh context, as in production.
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(
            portal_url + urlsplit(embed["whip_url"]).path, method="OPTIONS", headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers

    (member, member_headers), anonymous, stranger = (
        options(embed["token"]),
        options(None),
        options(outsider),
    )
    assert member == 204
    assert member_headers["Accept-Post"] == "application/sdp"
    assert member_headers.get_all("Link") == [
        '<stun:stun.school.example:3478>; rel="ice-server"',
        '<turn:turn.school.example>; rel="ice-server"; username="portal"; credential="s3cret"; '
        'credential-type="password"',
    ]
    # TURN credentials are not public: no token, or a non-member's, gets no Link.
    assert anonymous[0] == 204 and anonymous[1].get_all("Link") is None
    assert stranger[0] == 204 and stranger[1].get_all("Link") is None


def test_sfu_401s_are_json_with_a_bearer_challenge(sfu, login, client):
    embed = start_class(sfu, login)
    sdp = run(an_offer())
    browser_like = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    missing = client.post(
        embed["whip_url"], data=sdp, content_type="application/sdp", headers=browser_like
    )
    forged = client.post(
        embed["whep_url"],
        data=sdp,
        content_type="application/sdp",
        headers={**browser_like, "Authorization": "Bearer not.a.token"},
    )
    listing = client.get(f"/sfu/rooms/{embed['room']}/publishers", headers=browser_like)
    for response in (missing, forged, listing):
        assert response.status_code == 401
        assert response.mimetype == "application/json"
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="portal"')
    assert missing.get_json()["error"]["code"] == "not_authenticated"
    assert (
        "error=" not in missing.headers["WWW-Authenticate"]
    )  # RFC 6750 3.1: no error without a token
    assert forged.get_json()["error"]["code"] == "invalid_token"
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


def test_patch_is_501_on_a_session_and_404_on_an_unknown_one(sfu, login, client):
    embed = start_class(sfu, login)
    auth = {"Authorization": f"Bearer {embed['token']}"}

    async def scenario():
        publisher = Publisher(160, 120)
        created = await publisher.start(client, embed["whip_url"], embed["token"])
        patch = client.patch(
            created.headers["Location"],
            data=b"a=end-of-candidates",
            headers=auth,
            content_type="application/trickle-ice-sdpfrag",
        )
        unknown = client.patch(
            f"/sfu/rooms/{embed['room']}/sessions/nope",
            data=b"a=end-of-candidates",
            headers=auth,
            content_type="application/trickle-ice-sdpfrag",
        )
        options = client.open(created.headers["Location"], method="OPTIONS")
        await publisher.close()
        return created, patch, unknown, options

    created, patch, unknown, options = run(scenario())
    assert created.status_code == 201
    assert patch.status_code == 501
    assert patch.get_json()["error"]["code"] == "trickle_not_supported"
    assert unknown.status_code == 404
    assert set(options.headers["Allow"].split(", ")) == {"OPTIONS", "DELETE", "PATCH"}


def test_405s_on_sfu_routes_name_the_allowed_methods(sfu, login, client):
    embed = start_class(sfu, login)
    auth = {"Authorization": f"Bearer {embed['token']}"}
    get_whip = client.get(embed["whip_url"], headers=auth)
    put_session = client.put(f"/sfu/rooms/{embed['room']}/sessions/abc", headers=auth)
    assert get_whip.status_code == 405
    assert set(get_whip.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert put_session.status_code == 405
    assert set(put_session.headers["Allow"].split(", ")) == {"OPTIONS", "DELETE", "PATCH"}


def test_an_sdp_offer_over_64_kib_is_413(sfu, login, client):
    embed = start_class(sfu, login)
    sdp = run(an_offer())
    padded = sdp + "".join(f"a=x-padding:{'p' * 1000}\r\n" for _ in range(70))
    too_large = post_sdp(client, embed["whip_url"], embed["token"], padded)
    assert too_large.status_code == 413
    assert too_large.get_json()["error"]["code"] == "sdp_too_large"
    assert "64 KiB" in too_large.get_json()["error"]["message"]


def test_openapi_describes_every_sfu_route_and_method(app, client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    documented = {
        (path, method.upper())
        for path, item in paths.items()
        if path.startswith("/sfu/")
        for method in item
        if method in ("get", "post", "patch", "delete", "options")
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/sfu/") or rule.endpoint in (
            "native_sfu.static",
            "native_sfu.room_page",
        ):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        served |= {
            (path, m)
            for m in rule.methods - {"HEAD"}
            if m != "OPTIONS" or not rule.provide_automatic_options
        }
    assert served and served == documented
    whip = paths["/sfu/rooms/{room}/whip"]["post"]
    assert "application/sdp" in whip["requestBody"]["content"]
    assert {"201", "401", "413", "415"} <= set(whip["responses"])
    assert "Location" in whip["responses"]["201"]["headers"]
    assert paths["/sfu/rooms/{room}/sessions/{session_id}"]["patch"]["responses"].keys() >= {
        "404",
        "501",
    }


# Item 19: CORS


def test_cors_answers_only_the_configured_origins(sfu, login, client):
    configure(sfu, cors_origins=[OTHER_ORIGIN], stun_urls=["stun:stun.school.example:3478"])
    embed = start_class(sfu, login)
    preflight_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }

    async def scenario():
        out = {}
        for name, origin in (("allowed", OTHER_ORIGIN), ("other", "http://evil.example")):
            out[f"preflight_{name}"] = client.open(
                embed["whip_url"], method="OPTIONS", headers={"Origin": origin, **preflight_headers}
            )
            publisher = Publisher(160, 120)
            out[f"post_{name}"] = post_sdp_from(
                client, embed["whip_url"], embed["token"], await publisher.offer(), origin
            )
            await publisher.close()
        out["unauthenticated"] = client.post(
            embed["whep_url"],
            data="v=0",
            content_type="application/sdp",
            headers={"Origin": OTHER_ORIGIN},
        )
        return out

    out = run(scenario())
    preflight = out["preflight_allowed"]
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == OTHER_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert "Origin" in preflight.headers["Vary"]
    created = out["post_allowed"]
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == OTHER_ORIGIN
    exposed = {h.strip() for h in created.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Location", "ETag", "Link"} <= exposed
    # The page can read why it was refused, too.
    assert out["unauthenticated"].status_code == 401
    assert out["unauthenticated"].headers["Access-Control-Allow-Origin"] == OTHER_ORIGIN
    for name in ("preflight_other", "post_other"):
        assert "Access-Control-Allow-Origin" not in out[name].headers, name
    assert out["post_other"].status_code == 201  # not a browser: CORS does not stop it, only pages


def test_no_origin_is_allowed_by_default(sfu, login, client):
    embed = start_class(sfu, login)
    preflight = client.open(
        embed["whip_url"],
        method="OPTIONS",
        headers={"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Methods" not in preflight.headers


def post_sdp_from(client, url: str, token: str, sdp: str, origin: str):
    return client.post(
        url,
        data=sdp.encode(),
        content_type="application/sdp",
        headers={"Authorization": f"Bearer {token}", "Origin": origin},
    )


def test_admins_cannot_allow_every_origin(sfu, login):
    admin = login(sfu.admin)
    wildcard = admin.patch(
        f"/api/admin/backends/{sfu.sfu_config.id}", json={"settings": {"cors_origins": ["*"]}}
    )
    with_path = admin.patch(
        f"/api/admin/backends/{sfu.sfu_config.id}",
        json={"settings": {"cors_origins": ["https://media.example.org/page"]}},
    )
    assert wildcard.status_code == 400 and with_path.status_code == 400


# Item 21: the clients' ICE servers are not the server's


class FakeStunServer:
    """A STUN server on 127.0.0.1 (RFC 5389 Binding) that counts the requests it answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            with contextlib.suppress(ValueError):
                request = stun.parse_message(data)
                if (
                    request.message_method == stun.Method.BINDING
                    and request.message_class == stun.Class.REQUEST
                ):
                    self.requests += 1
                    reply = stun.Message(
                        stun.Method.BINDING,
                        stun.Class.RESPONSE,
                        request.transaction_id,
                        {"XOR-MAPPED-ADDRESS": addr},
                    )
                    self.sock.sendto(bytes(reply), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_the_server_gathers_with_its_own_stun_servers_not_the_clients(sfu, login, client):
    for_clients, for_server = FakeStunServer(), FakeStunServer()
    try:
        configure(
            sfu,
            stun_urls=[f"stun:127.0.0.1:{for_clients.port}"],
            server_stun_urls=[f"stun:127.0.0.1:{for_server.port}"],
        )
        embed = start_class(sfu, login)

        async def scenario():
            publisher = Publisher(160, 120)
            created = await publisher.start(client, embed["whip_url"], embed["token"])
            viewer = Viewer()
            watched = await viewer.start(client, embed["whep_url"], embed["token"])
            await viewer.close()
            await publisher.close()
            return created, watched

        created, watched = run(scenario())
    finally:
        for_clients.close()
        for_server.close()
    assert created.status_code == 201 and watched.status_code == 201
    # The clients are told about their STUN server (Link and the join target) ...
    assert f'<stun:127.0.0.1:{for_clients.port}>; rel="ice-server"' in created.headers.getlist(
        "Link"
    )
    assert embed["ice_servers"] == [{"urls": f"stun:127.0.0.1:{for_clients.port}"}]
    # ... but the SFU's own peer connections (one publish, one watch) asked only its own.
    assert for_clients.requests == 0
    assert for_server.requests >= 2
