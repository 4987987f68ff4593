"""Serve the portal (Socket.IO included, threading mode) on 127.0.0.1 with an ephemeral port.

Configured by PORTAL_* environment variables like `portal serve`; prints `PORT <n>` once
listening. Used by the multi-process live tests and by bench/chat.py.
"""

from __future__ import annotations

import logging

from werkzeug.serving import make_server

from portal import create_app


def main() -> None:
    app = create_app()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
