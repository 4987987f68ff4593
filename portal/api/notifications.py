"""Notification endpoints: your own notifications, unsubscribe by signed token, and the
admins' view of delivery (failures, why, send again).

A blueprint of its own under /api (registered in create_app), so this module needs no
edit of the shared API package; the endpoints still appear in /api/openapi.json.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from portal.api.framework import current_actor, endpoint
from portal.api.schemas import Channel, PageQuery
from portal.core import notification_review, notifications

api = Blueprint("notifications_api", __name__, url_prefix="/api")


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    channel: str
    schedule_id: int | None
    status: str
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    error: str | None


class NotificationList(BaseModel):
    items: list[NotificationOut]


class UnsubscribeIn(BaseModel):
    token: str = Field(min_length=1, max_length=500)


class UnsubscribeOut(BaseModel):
    user_id: int
    channel: str
    notify_email: bool
    notify_sms: bool
    channels: dict[str, bool]


@endpoint(
    api,
    "/me/notifications",
    summary="Your recent and upcoming notifications",
    response=NotificationList,
    tags=["notifications"],
)
def my_notifications():
    rows = notifications.list_for_user(current_actor())
    return NotificationList(items=[NotificationOut.model_validate(r) for r in rows])


@endpoint(
    api,
    "/notifications/unsubscribe",
    "POST",
    summary="Turn a channel off with an unsubscribe link's token",
    body=UnsubscribeIn,
    response=UnsubscribeOut,
    auth=False,
    tags=["notifications"],
    errors=[404],
)
def unsubscribe(body: UnsubscribeIn):
    user, channel = notifications.unsubscribe(body.token)
    return UnsubscribeOut(
        user_id=user.id,
        channel=channel,
        notify_email=user.notify_email,
        notify_sms=user.notify_sms,
        channels=user.channel_choices,
    )


class DeliveryQuery(PageQuery):
    status: Literal["pending", "claimed", "sending", "sent", "failed", "cancelled", "any"] = (
        "failed"
    )
    channel: Channel | None = None


class DeliveryOut(NotificationOut):
    user_id: int
    user_name: str
    address: str | None
    class_id: int | None
    class_title: str | None
    class_starts_at: datetime | None
    provider_id: str | None


class StatusCounts(BaseModel):
    pending: int
    claimed: int
    sending: int
    sent: int
    failed: int
    cancelled: int


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int
    last_7_days: StatusCounts


def delivery_out(row: notification_review.DeliveryRow) -> DeliveryOut:
    n = row.notification
    return DeliveryOut(
        id=n.id,
        kind=n.kind,
        channel=n.channel,
        schedule_id=n.schedule_id,
        status=n.status,
        due_at=n.due_at,
        sent_at=n.sent_at,
        attempts=n.attempts,
        error=n.error,
        user_id=n.user_id,
        user_name=row.user_name,
        address=row.address,
        class_id=row.class_id,
        class_title=row.class_title,
        class_starts_at=row.starts_at,
        provider_id=n.provider_id,
    )


@endpoint(
    api,
    "/admin/notifications",
    summary="Notification deliveries of every user (failed ones by default)",
    query=DeliveryQuery,
    response=DeliveryPage,
    tags=["admin"],
)
def list_deliveries(query: DeliveryQuery):
    actor = current_actor()
    rows, total = notification_review.list_deliveries(
        actor,
        status=None if query.status == "any" else query.status,
        channel=query.channel,
        limit=query.limit,
        offset=query.offset,
    )
    return DeliveryPage(
        items=[delivery_out(r) for r in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
        last_7_days=StatusCounts(**notification_review.status_counts(actor)),
    )


@endpoint(
    api,
    "/admin/notifications/<int:notification_id>/retry",
    "POST",
    summary="Send a failed notification again",
    response=NotificationOut,
    tags=["admin"],
    errors=[404, 409],
)
def retry_delivery(notification_id: int):
    return NotificationOut.model_validate(
        notification_review.retry_delivery(current_actor(), notification_id)
    )
