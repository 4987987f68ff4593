"""The LTI tool's own tables (created by portal_lti/migrations, history in
alembic_version_lti)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint

from portal.plugins import services
from portal.plugins.tables import Mapped, Model, UTCDateTime, mapped_column


class LtiPlatform(Model):
    """An LMS registered with the portal (one issuer may register several client ids)."""

    __tablename__ = "lti_platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    key_set_url: Mapped[str] = mapped_column(String(1000))
    deployment_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=services.now)

    __table_args__ = (UniqueConstraint("issuer", "client_id"),)


class LtiToolKey(Model):
    """The tool's signing keys; the newest active one signs, all active ones are published
    in the tool's JWKS so platforms can verify during a rotation."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_pem: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=services.now)


class LtiResourceLink(Model):
    """An LMS activity (resource link) and the portal class it opens."""

    __tablename__ = "lti_resource_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str | None] = mapped_column(String(255))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    # Names and Role Provisioning: the course's membership container, from the latest launch.
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    roster_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Assignment and Grade Services: the course's line items container and scopes from the
    # latest launch, and the line item the portal created for this class (once).
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))
    ags_scopes: Mapped[list[str] | None] = mapped_column(JSON)
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=services.now)

    __table_args__ = (UniqueConstraint("platform_id", "deployment_id", "resource_link_id"),)


class LtiRosterMember(Model):
    """A learner the LMS put in the linked class (by launch or roster sync): only these are
    removed when the LMS drops them; students the teacher added by hand stay."""

    __tablename__ = "lti_roster_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("lti_resource_links.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lti_sub: Mapped[str] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("link_id", "user_id"),)


class LtiCacheEntry(Model):
    """pylti1p3's launch data storage: nonces issued at login, validated launches (kept so a
    teacher's set-up page can continue the launch); shared by every portal process."""

    __tablename__ = "lti_cache"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LtiPendingScore(Model):
    """A learner's attendance of one occurrence, to be posted to the LMS gradebook by the
    background job; kept with its state so the teacher sees what reached the LMS."""

    __tablename__ = "lti_pending_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("lti_resource_links.id", ondelete="CASCADE"), index=True
    )
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lti_sub: Mapped[str] = mapped_column(String(255))
    score_given: Mapped[int] = mapped_column(Integer)
    score_maximum: Mapped[int] = mapped_column(Integer)
    # pending (waiting or to be retried) | sent | refused (the LMS said no: a 4xx)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=services.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=services.now)

    __table_args__ = (UniqueConstraint("link_id", "schedule_id", "user_id"),)
