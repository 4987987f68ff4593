"""Built-in plugin: the embedded notifier that stores and prints messages (no provider needed)."""

from __future__ import annotations

import logging
import uuid
from collections import deque

from portal.plugins import DeliveryResult, NotificationMessage, hookimpl

log = logging.getLogger("portal.outbox")

# The most recent messages, for the demo and for tests that look at what was "sent".
SENT: deque[NotificationMessage] = deque(maxlen=1000)


class OutboxNotifier:
    name = "outbox"

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, message: NotificationMessage) -> DeliveryResult:
        SENT.append(message)
        log.info("outbox %s to %s: %s", message.channel, message.recipient, message.subject)
        print(
            f"[outbox:{message.channel}] to {message.recipient}: "
            f"{message.subject}\n{message.text}\n",
            flush=True,
        )
        return DeliveryResult(status="sent", provider_id=f"outbox-{uuid.uuid4().hex[:12]}")


@hookimpl
def register_notifiers(register) -> None:
    register(OutboxNotifier("email"))
    register(OutboxNotifier("sms"))
