"""What an authenticated API request costs before its view runs (issue 20's "floor"),
pinned as counts of work done, never as time."""

from __future__ import annotations

from jwt import api_jws


def _count_segment_decodes(monkeypatch) -> list[int]:
    """Counts PyJWT's base64url segment decodes (three per parse of a token)."""
    calls = [0]
    decode = api_jws.PyJWS._decode_base64url_segment

    def counted(segment: bytes, name: str) -> bytes:
        calls[0] += 1
        return decode(segment, name)

    monkeypatch.setattr(api_jws.PyJWS, "_decode_base64url_segment", staticmethod(counted))
    return calls


def test_an_authenticated_request_parses_its_token_once(client, make_user, login, monkeypatch):
    api = login(make_user("teacher"))
    calls = _count_segment_decodes(monkeypatch)
    response = api.get("/api/auth/me")
    assert response.status_code == 200
    # flask-jwt-extended reads the token four times; PyJWT parses it for the first only.
    assert calls[0] == 3


def test_each_token_is_still_its_own_user_and_a_tampered_one_is_refused(client, make_user, login):
    alice, bob = make_user("teacher", name="Alice"), make_user("student", name="Bob")
    as_alice, as_bob = login(alice), login(bob)
    for _ in range(2):  # alternating tokens on one thread: no answer from the other's parse
        assert as_alice.get("/api/auth/me").get_json()["name"] == "Alice"
        assert as_bob.get("/api/auth/me").get_json()["name"] == "Bob"
    # Bob's header and claims with Alice's signature: parsed fine, its signature refused.
    forged = as_bob.token.rsplit(".", 1)[0] + "." + as_alice.token.rsplit(".", 1)[1]
    as_alice.get("/api/auth/me")  # Alice's token is the thread's last parse
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"
    assert as_bob.get("/api/auth/me").get_json()["name"] == "Bob"


def test_api_answers_carry_every_security_header_once(client, make_user, login):
    response = login(make_user("teacher")).get("/api/auth/me")
    for name in (
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "X-Frame-Options",
        "Permissions-Policy",
        "Cache-Control",
    ):
        assert len(response.headers.getlist(name)) == 1, name
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
