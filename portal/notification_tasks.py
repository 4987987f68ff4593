"""The Celery task that delivers one notification row (fanned out by the dispatch job)."""

from __future__ import annotations

from celery import Celery

SEND_TASK = "portal.notifications.send"


def register(celery_app: Celery) -> None:
    @celery_app.task(
        name=SEND_TASK,
        bind=True,
        ignore_result=True,
        # Acknowledged after it ran: a worker that dies mid-task leaves the message to be
        # redelivered; the row's status transitions make a second run harmless.
        acks_late=True,
        reject_on_worker_lost=True,
        # Attempts are counted on the row (NOTIFY_MAX_ATTEMPTS); rate-limit waits are free.
        max_retries=None,
    )
    def send_notification(self, notification_id: int) -> str:
        from portal.core import notifications
        from portal.extensions import db

        try:
            outcome = notifications.deliver(notification_id)
        finally:
            db.session.remove()
        if outcome.action == "retry":
            raise self.retry(countdown=outcome.retry_in)
        return outcome.action
