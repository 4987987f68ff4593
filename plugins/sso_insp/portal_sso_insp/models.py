"""The plugin's own table: single-use insp tokens seen so far (by jti), kept until they expire.

Created by this plugin's migrations (portal_sso_insp/migrations), tracked in the table
alembic_version_sso_insp."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint

from portal.plugins import services
from portal.plugins.tables import Mapped, Model, UTCDateTime, mapped_column


class SsoToken(Model):
    __tablename__ = "sso_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    jti: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=services.now)

    __table_args__ = (UniqueConstraint("provider", "jti"),)
