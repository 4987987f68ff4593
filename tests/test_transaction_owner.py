"""One transaction owner per unit of work: core services (and the plugin facade) flush, the
request, job, CLI command or realtime event that called them commits. The only commits in
them are the atomic claims that other processes must see before a slow outside call."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.core import chat, floor, live_state, polls
from portal.core.models import ChatMessage, FloorSeat, PollVote
from portal.extensions import db

ROOT = Path(__file__).resolve().parents[1]

# (file, function) -> why it may commit on its own. Nothing else may be added without a
# reason of the same kind; each of these commits carries an "atomic claim" comment.
ATOMIC_CLAIMS: dict[tuple[str, str], str] = {
    ("portal/core/meetings.py", "_try_claim"): "the 'starting' row, before the backend call",
    ("portal/core/meetings.py", "_create_on_backend"): "the claim's end: 'running'",
    ("portal/core/meetings.py", "_release_claim"): "a failed start frees the claim",
    ("portal/core/notifications/dispatch.py", "claim_due"): "notification rows claimed",
    ("portal/core/meeting_events.py", "claim_delivery"): "a webhook delivery's key",
    ("portal/core/meeting_events.py", "release_delivery"): "a failed delivery's key freed",
    ("portal/core/notifications/delivery.py", "_mark_sending"): "a send window's 'sending'",
    ("portal/core/notifications/delivery.py", "_settle_rows"): "a send window's answers",
    ("portal/core/privacy/export.py", "_publish"): "an export's claim and progress",
    ("portal/plugins/services.py", "checkpoint"): "a long periodic job's claim and progress",
}
# The unit of work itself: the owners' commit, and what an after-commit hook wrote.
OWNER_MODULES = {"portal/core/unit_of_work.py"}


def _commits(path: Path) -> list[tuple[int, str]]:
    """(line, enclosing function) of every `.commit()` call in one file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = (
                child.name
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                else function
            )
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "commit"
            ):
                found.append((child.lineno, function))
            visit(child, name)

    visit(tree, "<module>")
    return found


def _service_sources() -> list[Path]:
    return sorted([*ROOT.glob("portal/core/**/*.py"), ROOT / "portal/plugins/services.py"])


def test_core_services_never_commit_except_the_atomic_claims():
    sources = _service_sources()
    assert len(sources) > 30, "the scan found no core sources"
    offenders = []
    claims_seen = set()
    for path in sources:
        relative = path.relative_to(ROOT).as_posix()
        if relative in OWNER_MODULES:
            continue
        lines = path.read_text().splitlines()
        for line, function in _commits(path):
            if (relative, function) not in ATOMIC_CLAIMS:
                offenders.append(f"{relative}:{line} in {function}()")
                continue
            claims_seen.add((relative, function))
            # The comment saying why sits on the line or just above it.
            nearby = " ".join(lines[max(0, line - 4) : line]).lower()
            if "atomic claim" not in nearby:
                offenders.append(f"{relative}:{line} commits without an 'atomic claim' comment")
    assert offenders == [], "services commit; leave it to the unit of work's owner"
    # A claim that no longer commits is taken off the list, so the list stays honest.
    assert claims_seen == set(ATOMIC_CLAIMS)


def test_the_scan_finds_a_commit_in_a_service(tmp_path):
    sample = tmp_path / "service.py"
    sample.write_text("def post():\n    db.session.add(x)\n    db.session.commit()\n")
    assert _commits(sample) == [(3, "post")]


# --- behaviour: a failing request leaves nothing, a successful one pushes after its commit


@pytest.fixture
def pushed(app):
    """Live events as they leave, each with the number of chat messages, votes and floor
    grants that another connection could read at that moment (what is committed)."""
    seen: list[tuple[str, tuple[int, int, int]]] = []

    def record(_sender, *, event, **_):
        with db.engine.connect() as other:
            seen.append((event, _committed_rows(other)))

    live_state.live_event.connect(record)
    yield seen
    live_state.live_event.disconnect(record)


def _committed_rows(connection) -> tuple[int, int, int]:
    count = sa.func.count()
    return (
        connection.execute(sa.select(count).select_from(ChatMessage.__table__)).scalar_one(),
        connection.execute(sa.select(count).select_from(PollVote.__table__)).scalar_one(),
        connection.execute(
            sa.select(count).select_from(FloorSeat.__table__).where(FloorSeat.mic.is_(True))
        ).scalar_one(),
    )


def _fail_after(monkeypatch, module, name: str) -> None:
    """The service `module.name` does its work, then the request fails in its next step."""
    real = getattr(module, name)

    def then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the step after the service failed")

    monkeypatch.setattr(module, name, then_fail)


def _post(client, path: str, body: dict) -> int:
    try:
        return client.post(path, json=body).status_code
    except RuntimeError:  # the test app propagates the exception: the request failed
        return 500


def _open_poll(school, login) -> tuple[int, int]:
    teacher = login(school.teacher)
    poll = teacher.post(
        f"/api/schedules/{school.schedule.id}/polls", json={"question": "?", "options": ["a", "b"]}
    ).get_json()
    assert teacher.post(f"/api/polls/{poll['id']}/open").status_code == 200
    return poll["id"], poll["options"][0]["id"]


# Another connection must see what was (or was not) committed.
@pytest.mark.real_commits
def test_a_failing_chat_post_vote_or_grant_leaves_no_row_and_pushes_nothing(
    school, login, pushed, monkeypatch
):
    sid = school.schedule.id
    poll_id, option_id = _open_poll(school, login)
    pushed.clear()
    for service, name in ((chat, "post_message"), (polls, "vote"), (floor, "grant")):
        _fail_after(monkeypatch, service, name)
    student, teacher = login(school.student), login(school.teacher)

    assert _post(student, f"/api/schedules/{sid}/chat", {"body": "lost"}) == 500
    assert _post(student, f"/api/polls/{poll_id}/vote", {"option_ids": [option_id]}) == 500
    grant = {"user_id": school.student.id, "mic": True}
    assert _post(teacher, f"/api/schedules/{sid}/floor/grant", grant) == 500

    db.session.remove()
    with db.engine.connect() as other:
        assert _committed_rows(other) == (0, 0, 0)
    assert pushed == []


# Another connection must see what was (or was not) committed.
@pytest.mark.real_commits
def test_a_successful_chat_post_vote_and_grant_push_after_their_commit(school, login, pushed):
    sid = school.schedule.id
    poll_id, option_id = _open_poll(school, login)
    pushed.clear()
    student, teacher = login(school.student), login(school.teacher)

    assert student.post(f"/api/schedules/{sid}/chat", json={"body": "kept"}).status_code == 201
    assert (
        student.post(f"/api/polls/{poll_id}/vote", json={"option_ids": [option_id]}).status_code
        == 200
    )
    grant = {"user_id": school.student.id, "mic": True}
    assert teacher.post(f"/api/schedules/{sid}/floor/grant", json=grant).status_code == 200

    # Each event left when its row was already readable by another connection.
    assert pushed == [
        ("chat:message", (1, 0, 0)),
        ("poll:results", (1, 1, 0)),
        ("floor:granted", (1, 1, 1)),
    ]
