"""A real HTTP server on 127.0.0.1 publishing a JWK Set, like insp's /.well-known/jwks.json.

Tests change the published keys (rotation) and read how often the set was fetched.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jwt.algorithms import RSAAlgorithm


class JwksServer:
    def __init__(self) -> None:
        self.keys: dict[str, object] = {}  # kid -> RSA private key (only the public half is served)
        self.fetches = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                if self.path != "/.well-known/jwks.json":
                    self.send_error(404)
                    return
                with outer.lock:
                    outer.fetches += 1
                    body = json.dumps(
                        {"keys": [outer._jwk(kid, key) for kid, key in outer.keys.items()]}
                    )
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="jwks-server", daemon=True
        )

    @staticmethod
    def _jwk(kid: str, key) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        return jwk

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/.well-known/jwks.json"

    def publish(self, **keys) -> None:
        with self.lock:
            self.keys = dict(keys)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
