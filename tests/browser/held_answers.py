"""Holding back what the portal answers a page, to make an order of arrival certain that a
loaded server produces only now and then: an answer or a push read before what the test
does meanwhile then reaches the page after it (Playwright's route_web_socket and route)."""

from __future__ import annotations

import re
from collections.abc import Callable


class HeldMessages:
    """Stands between a page and the realtime server on the page's Socket.IO WebSocket and
    keeps the server's messages that `holds(message)` picks until release()."""

    def __init__(self, context, holds: Callable[[str], bool]) -> None:
        self.holds = holds
        self.held: list[str] = []
        self.released = False
        self.page_socket = None
        context.route_web_socket(re.compile(r"/socket\.io/"), self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()
        self.page_socket = ws

        def from_page(message) -> None:
            if isinstance(message, str):
                self.page_sent(message)
            server.send(message)

        def from_server(message) -> None:
            if not self.released and isinstance(message, str) and self.holds(message):
                self.held.append(message)
            else:
                ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    def page_sent(self, message: str) -> None:
        """Sees every text frame the page sends (for holds that depend on them)."""

    def wait_for_held(self, page, count: int = 1) -> None:
        """Until `count` messages are held (playwright delivers frames while waiting)."""
        for _ in range(150):
            if len(self.held) >= count:
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"held {len(self.held)} of the {count} messages awaited")

    def release(self) -> None:
        """Deliver what was held, in its order, and hold nothing more."""
        self.released = True
        for message in self.held:
            self.page_socket.send(message)


class HeldJoinAnswer(HeldMessages):
    """Keeps the answer to the page's room `join` until release(): the room's answer, read
    before what the test does meanwhile, then arrives after it."""

    JOIN = re.compile(r'^42(\d+)\["join"')

    def __init__(self, context) -> None:
        self.join_id: str | None = None
        super().__init__(context, self._is_join_answer)

    def page_sent(self, message: str) -> None:
        match = self.JOIN.match(message)
        if match and self.join_id is None:
            self.join_id = match.group(1)

    def _is_join_answer(self, message: str) -> bool:
        return self.join_id is not None and message.startswith(f"43{self.join_id}[")

    def wait_for_answer(self, page) -> None:
        """Until the server has answered the join."""
        try:
            self.wait_for_held(page)
        except AssertionError:
            raise AssertionError("the page's join was never answered") from None


class HeldPushes(HeldMessages):
    """Keeps the first `count` pushes of `event` (to this page) until release()."""

    def __init__(self, context, event: str, count: int = 1) -> None:
        self.prefix = f'42["{event}",'
        self.count = count
        super().__init__(context, self._is_held_push)

    def _is_held_push(self, message: str) -> bool:
        return message.startswith(self.prefix) and len(self.held) < self.count


class HeldFirstResponse:
    """Keeps the answer to the first request for `path` (of any page of the context) until
    release(); later requests are answered as usual and counted in `answered`."""

    def __init__(self, context, path: str) -> None:
        self.held = None
        self.answered = 0
        context.route(re.compile(re.escape(path) + r"(\?.*)?$"), self._route)

    def _route(self, route) -> None:
        response = route.fetch()
        if self.held is None:
            self.held = (route, response)
        else:
            route.fulfill(response=response)
            self.answered += 1

    def wait_for_answered(self, page, count: int = 1) -> None:
        """Until the first request is held and `count` later ones are answered."""
        for _ in range(150):
            if self.held is not None and self.answered >= count:
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"{self.answered} of {count} later requests answered")

    def release(self) -> None:
        route, response = self.held
        route.fulfill(response=response)
