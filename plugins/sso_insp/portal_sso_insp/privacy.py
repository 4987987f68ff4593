"""What this plugin holds about a user (their insp identity and the single-use tokens they
signed in with), for the user's data export and erasure (portal/core/privacy hooks)."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from portal.plugins import ErasureItem, UserDataSection, UserInfo, hookimpl, services
from portal_sso_insp.models import SsoToken
from portal_sso_insp.settings import PROVIDER


@hookimpl
def export_user_data(user: UserInfo) -> list[UserDataSection]:
    tokens = services.session().execute(
        select(SsoToken.provider, SsoToken.used_at).filter_by(user_id=user.id)
    )
    return [
        UserDataSection("sso_insp.identities", services.identities_of(PROVIDER, user.id)),
        UserDataSection(
            "sso_insp.sign_ins",
            [{"kind": kind, "used_at": used.isoformat()} for kind, used in tokens],
        ),
    ]


@hookimpl
def erase_user_data(user: UserInfo, dry_run: bool) -> list[ErasureItem]:
    session = services.session()
    tokens = session.execute(
        select(func.count()).select_from(SsoToken).filter_by(user_id=user.id)
    ).scalar_one()
    if tokens and not dry_run:
        session.execute(delete(SsoToken).filter_by(user_id=user.id))
    links = services.remove_identities(PROVIDER, user.id, dry_run=dry_run)
    return [ErasureItem("sso_insp.identities", links), ErasureItem("sso_insp.sign_ins", tokens)]
