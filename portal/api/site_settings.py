"""Site settings for administrators: school name, time zone, reminder defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.api import api
from portal.api.content_schemas import Visibility
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import Channel, Model, Out, RoomSettingsIn
from portal.core import access, site_settings


class RoomSettingsDefaultsOut(Out):
    mute_on_entry: bool
    cameras_teachers_only: bool
    screen_share: Literal["teachers", "everyone"]
    chat: bool
    private_chat: bool


class SiteSettingsOut(Out):
    school_name: str
    timezone: str
    default_locale: str
    reminder_offsets: list[int]
    reminder_channels: list[str]
    recording_visibility: Visibility
    waiting_room: bool
    sign_up: str
    room_defaults: RoomSettingsDefaultsOut


class SiteSettingsIn(Model):
    school_name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    default_locale: str | None = Field(
        default=None, max_length=16, description="language of visitors who ask for none we speak"
    )
    reminder_offsets: list[int] | None = Field(default=None, max_length=5)
    reminder_channels: list[Channel] | None = Field(default=None, max_length=10)
    recording_visibility: Visibility | None = Field(
        default=None, description="default visibility of new recordings"
    )
    waiting_room: bool | None = Field(default=None, description="new classes have a waiting room")
    sign_up: Literal["closed", "invite_only", "open_with_approval"] | None = None
    room_defaults: RoomSettingsIn | None = None


@endpoint(
    api,
    "/admin/settings",
    summary="Site settings (school name, time zone, reminder and recording defaults)",
    response=SiteSettingsOut,
    tags=["admin"],
)
def get_site_settings():
    access.require_admin(current_actor())
    return SiteSettingsOut(**site_settings.read_site_settings())


@endpoint(
    api,
    "/admin/settings",
    "PATCH",
    summary="Change site settings",
    body=SiteSettingsIn,
    response=SiteSettingsOut,
    tags=["admin"],
)
def update_site_settings(body: SiteSettingsIn):
    changes = site_settings.SiteSettingsChanges(**body.model_dump())
    return SiteSettingsOut(**site_settings.update_site_settings(current_actor(), changes))
