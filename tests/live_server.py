"""Serve the portal as `portal serve` does (pages, API and the realtime server in one asyncio
process) on 127.0.0.1 with an ephemeral port.

Configured by PORTAL_* environment variables; prints `PORT <n>` once listening. Used by the
multi-process live tests (two processes sharing Redis).
"""

from __future__ import annotations

import socket

from portal import create_app, realtime_server


def main() -> None:
    app = create_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    realtime_server.serve(app, "127.0.0.1", 0, with_web=True, sock=sock)


if __name__ == "__main__":
    main()
