"""Test doubles of the Jitsi side, as real HTTP servers on 127.0.0.1 (ephemeral ports):

- mod_muc_end_meeting: POST /end-meeting?conference=<room jid> with "Authorization: Bearer
  <system token>"; 400 without conference, 401 without or with a bad token (verified like
  prosody's token util with the host's algorithm and key: HS256 with app_secret or RS256
  against a public key; a kid is required because the module fetches the key by it; room
  claim required), 404 when the room does not exist, 200 when it was destroyed.
- a JaaS recording store: GET of a pre-authenticated link returns the mp4; it can be told
  to fail the first requests (503), as a storage outage would.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from jitsi_prosody_verifier import ProsodyConfig, TokenRejected, verify_token

MP4 = (
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    + b"\x00\x00\x00\x08free"
    + b"video-bytes" * 100
)


class FakeJitsiServer:
    def __init__(self, end_meeting_config: ProsodyConfig | None = None):
        self.end_meeting_config = end_meeting_config
        self.rooms: set[str] = set()  # existing room jids
        self.end_requests: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.fail_next_downloads = 0
        self.downloads: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if url.path != "/end-meeting":
                    return self._send(404)
                conference = (parse_qs(url.query).get("conference") or [None])[0]
                auth = self.headers.get("Authorization") or ""
                owner.end_requests.append({"conference": conference, "authorization": auth})
                if not conference:
                    return self._send(400)
                if not auth.startswith("Bearer "):
                    return self._send(401)
                try:
                    header, _ = verify_token(auth[7:], owner.end_meeting_config)
                except TokenRejected:
                    return self._send(401)
                if not header.get(
                    "kid"
                ):  # the module fetches the key by kid, whatever the algorithm
                    return self._send(401)
                owner.end_requests[-1]["kid"] = header["kid"]
                if conference not in owner.rooms:
                    return self._send(404)
                owner.rooms.discard(conference)
                return self._send(200)

            def do_GET(self):
                url = urlparse(self.path)
                owner.downloads.append(url.path)
                if url.path == "/external_api.js":
                    return self._send(200, b"// JitsiMeetExternalAPI", "application/javascript")
                if owner.fail_next_downloads > 0:
                    owner.fail_next_downloads -= 1
                    return self._send(503, b"try later")
                if url.path in owner.files and parse_qs(url.query).get("sig") == ["ok"]:
                    return self._send(200, owner.files[url.path], "video/mp4")
                return self._send(403, b"link invalid")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeJitsiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
