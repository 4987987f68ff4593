from __future__ import annotations

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import (
    DirectoryEntryOut,
    UserCreateIn,
    UserOut,
    UserPage,
    UserQuery,
    UserUpdateIn,
)
from portal.core import users
from portal.core.snapshots import portal_role


@endpoint(
    api,
    "/users",
    summary="List users (admins) or search students to enrol (teachers)",
    query=UserQuery,
    response=UserPage,
    tags=["users"],
)
def list_users(query: UserQuery):
    actor = current_actor()
    entries, total = users.directory(
        actor, role=query.role, query=query.q, limit=query.limit, offset=query.offset
    )
    if actor.is_admin:
        items: list = [UserOut.model_validate(entry.user) for entry in entries]
    else:
        items = [
            DirectoryEntryOut(
                id=e.user.id,
                name=e.user.name,
                role=portal_role(e.user),
                email=e.email,
                email_masked=e.email_masked,
                phone=e.phone,
            )
            for e in entries
        ]
    return UserPage(items=items, total=total, limit=query.limit, offset=query.offset)


@endpoint(
    api,
    "/users",
    "POST",
    summary="Create a user (admins)",
    body=UserCreateIn,
    response=UserOut,
    status=201,
    tags=["users"],
    errors=[409],
)
def create_user(body: UserCreateIn):
    user = users.create_user(current_actor(), **body.model_dump())
    return UserOut.model_validate(user)


@endpoint(api, "/users/<int:user_id>", summary="One user", response=UserOut, tags=["users"])
def get_user(user_id: int):
    return UserOut.model_validate(users.read_user(current_actor(), user_id))


@endpoint(
    api,
    "/users/<int:user_id>",
    "PATCH",
    summary="Update a profile; role and is_active are for admins",
    body=UserUpdateIn,
    response=UserOut,
    tags=["users"],
    errors=[409],
)
def update_user(user_id: int, body: UserUpdateIn):
    actor = current_actor()
    fields = body.model_fields_set
    if "role" in fields or "is_active" in fields:
        users.admin_update(actor, user_id, role=body.role, is_active=body.is_active)
    changes = users.ProfileChanges(
        name=body.name,
        phone=body.phone if body.phone else None,
        clear_phone="phone" in fields and not body.phone,
        timezone=body.timezone,
        locale=body.locale,
        notify_email=body.notify_email,
        notify_sms=body.notify_sms,
        channels=body.channels,
    )
    if fields - {"role", "is_active"}:
        user = users.update_profile(actor, user_id, changes)
    else:
        user = users.get_user_for(actor, user_id)
    return UserOut.model_validate(user)
