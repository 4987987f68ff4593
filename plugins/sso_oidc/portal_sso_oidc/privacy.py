"""The user's link to the school's OpenID Connect provider, for their data export and
erasure (portal/core/privacy hooks): erased, a later sign-in makes a new account."""

from __future__ import annotations

from portal.plugins import ErasureItem, UserDataSection, UserInfo, hookimpl, services
from portal_sso_oidc.settings import PROVIDER


@hookimpl
def export_user_data(user: UserInfo) -> list[UserDataSection]:
    return [UserDataSection("sso_oidc.identities", services.identities_of(PROVIDER, user.id))]


@hookimpl
def erase_user_data(user: UserInfo, dry_run: bool) -> list[ErasureItem]:
    links = services.remove_identities(PROVIDER, user.id, dry_run=dry_run)
    return [ErasureItem("sso_oidc.identities", links)]
