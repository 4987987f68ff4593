"""The Celery tasks that deliver notification rows (fanned out by the dispatch job, routed
to the portal.deliver queue by portal.tasks.route_task): a batch of rows per task (one
provider connection, a few commits), so 10,000 reminders are 100 tasks, not 10,000; and one
row per task for a retry with its own countdown."""

from __future__ import annotations

from celery import Celery

SEND_TASK = "portal.notifications.send"
SEND_MANY_TASK = "portal.notifications.send_many"


def register(celery_app: Celery) -> None:
    @celery_app.task(
        name=SEND_TASK,
        shared=False,  # see portal.tasks.celery_init_app
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

    @celery_app.task(
        name=SEND_MANY_TASK,
        shared=False,
        ignore_result=True,
        acks_late=True,
        reject_on_worker_lost=True,
    )
    def send_notifications(notification_ids: list[int]) -> None:
        from portal.core import notifications
        from portal.extensions import db

        try:
            outcomes = notifications.deliver_batch(notification_ids)
        except Exception:
            # The batch's claimed rows come back after their lease; a row already marked
            # 'sending' is never resent.
            db.session.rollback()
            raise
        finally:
            db.session.remove()
        for notification_id, outcome in outcomes:
            if outcome.action == "retry":
                send_notification.apply_async((notification_id,), countdown=outcome.retry_in)
