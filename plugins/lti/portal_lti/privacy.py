"""What the LTI tool holds about a user: their LMS identity, the linked classes the LMS put
them in, scores waiting to be posted. For their data export and erasure (the core's
privacy hooks); erased, a later launch makes a new account."""

from __future__ import annotations

from sqlalchemy import delete, select

from portal.plugins import ErasureItem, UserDataSection, UserInfo, hookimpl, services
from portal_lti.launch import PROVIDER
from portal_lti.models import LtiPendingScore, LtiRosterMember


@hookimpl
def export_user_data(user: UserInfo) -> list[UserDataSection]:
    session = services.session()
    members = session.execute(select(LtiRosterMember).filter_by(user_id=user.id)).scalars()
    scores = session.execute(select(LtiPendingScore).filter_by(user_id=user.id)).scalars()
    return [
        UserDataSection("lti.identities", services.identities_of(PROVIDER, user.id)),
        UserDataSection(
            "lti.roster", [{"link_id": m.link_id, "lti_sub": m.lti_sub} for m in members]
        ),
        UserDataSection(
            "lti.scores",
            [
                {
                    "schedule_id": s.schedule_id,
                    "score": s.score_given,
                    "maximum": s.score_maximum,
                    "state": s.state,
                }
                for s in scores
            ],
        ),
    ]


@hookimpl
def erase_user_data(user: UserInfo, dry_run: bool) -> list[ErasureItem]:
    session = services.session()
    items = [ErasureItem("lti.identities", services.remove_identities(PROVIDER, user.id, dry_run))]
    for name, model in (("lti.roster", LtiRosterMember), ("lti.scores", LtiPendingScore)):
        ids = list(session.execute(select(model.id).filter_by(user_id=user.id)).scalars())
        if ids and not dry_run:
            session.execute(delete(model).where(model.id.in_(ids)))
        items.append(ErasureItem(name, len(ids)))
    return items
