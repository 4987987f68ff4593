"""Two server processes sharing Redis (message queue + live state) and one database: clients
on either process are in the same rooms. Needs PORTAL_TEST_REDIS_URL (CI sets it)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests
from flask_jwt_extended import create_access_token
from live_client import LiveClient, close_all
from portal_testing import TEST_SECRET_KEY

from portal.core.models import ChatMessage
from portal.extensions import db

pytestmark = pytest.mark.redis

SERVER_SCRIPT = Path(__file__).resolve().parent / "live_server.py"


def _start(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, int]:
    log = open(log_path, "w")  # noqa: SIM115  (kept open for the process's lifetime)
    proc = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT)], stdout=subprocess.PIPE, stderr=log, env=env, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("PORT "):
                return proc, int(line.split()[1])
            if not line:
                break
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"live server did not start: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def _servers(database_url, redis_url, tmp_path_factory):
    """The two server processes, started once for the module's tests: each start builds the
    whole app (about half this file's CPU when every test started its own pair). They keep
    nothing of a test in memory once its sockets are gone; `two_servers` empties the Redis
    state between tests."""
    channel = f"portal-test-{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("live_redis")
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_SOCKETIO_CHANNEL": channel,
        "PORTAL_INSTANCE_PATH": str(tmp / "instance"),
        "PORTAL_CHAT_RATE_LIMIT": "30 per hour",
    }
    started = []
    try:
        for n in range(2):
            started.append(_start(env, tmp / f"server{n}.log"))
        yield [f"http://127.0.0.1:{port}" for _, port in started], channel
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        _delete_keys(redis_url, channel)


def _delete_keys(redis_url: str, channel: str) -> None:
    client = redis.Redis.from_url(redis_url)
    for key in list(client.scan_iter(f"{channel}:*")) + list(client.scan_iter(f"*{channel}*")):
        client.delete(key)


@pytest.fixture
def two_servers(app, school, _servers, redis_url):
    urls, channel = _servers
    assert app.config["SECRET_KEY"] == TEST_SECRET_KEY  # the servers check this app's tokens
    yield urls
    # The test's sockets are closed (`clients` is torn down first): once both servers have
    # taken them out of the presence, the test's rate-limit windows and presence go, so the
    # next test starts with none (on SQLite it may reuse this test's user and class ids).
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 15
    while any(client.scan_iter(f"{channel}:presence*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    _delete_keys(redis_url, channel)


def _token(user) -> str:
    return create_access_token(identity=str(user.id), additional_claims={"role": user.role})


@pytest.fixture
def clients(two_servers):  # after two_servers, so closed before its cleanup
    made: list[LiveClient] = []
    yield made
    close_all(made)


def _connect(made, url, user, app, schedule_id) -> LiveClient:
    client = LiveClient(url, _token(user), origin=app.config["BASE_URL"], name=user.name)
    made.append(client)
    client.connect()
    answer = client.join(schedule_id)
    assert answer["ok"], answer
    return client


def test_clients_on_two_processes_share_rooms(school, two_servers, clients, app, redis_url):
    server_a, server_b = two_servers
    sid = school.schedule.id
    teacher = _connect(clients, server_a, school.teacher, app, sid)
    student = _connect(clients, server_a, school.student, app, sid)
    classmate = _connect(clients, server_b, school.classmate, app, sid)

    # Presence is shared: the teacher on A sees the classmate connected to B.
    everyone = {school.teacher.id, school.student.id, school.classmate.id}
    teacher.wait_for("presence", lambda p: {u["id"] for u in p["users"]} == everyone)

    for n in range(4):
        assert student.call("chat:send", {"schedule_id": sid, "body": f"from A {n}"})["ok"]
        assert classmate.call("chat:send", {"schedule_id": sid, "body": f"from B {n}"})["ok"]
    expected = [f"from {s} {n}" for n in range(4) for s in ("A", "B")]
    for client in (teacher, student, classmate):
        assert [m["body"] for m in client.wait_count("chat:message", 8)] == expected
    db.session.expire_all()
    stored = (
        db.session.execute(
            db.select(ChatMessage.body)
            .where(ChatMessage.schedule_id == sid)
            .order_by(ChatMessage.id)
        )
        .scalars()
        .all()
    )
    assert stored == expected

    # A vote on B reaches the teacher's live counts on A.
    poll = teacher.call(
        "poll:create", {"schedule_id": sid, "question": "Q?", "options": ["x", "y"]}
    )["poll"]
    assert teacher.call("poll:open", {"poll_id": poll["id"]})["ok"]
    classmate.wait_for("poll:opened")
    assert classmate.call(
        "poll:vote", {"poll_id": poll["id"], "option_ids": [poll["options"][1]["id"]]}
    )["ok"]
    assert teacher.wait_for("poll:results", lambda r: r["voters"] == 1)["options"][1]["votes"] == 1

    # A block made through process A cuts the classmate's socket on process B off at once.
    blocked = requests.post(
        f"{server_a}/api/blocks",
        timeout=10,
        headers={"Authorization": f"Bearer {_token(school.teacher)}"},
        json={
            "user_id": school.classmate.id,
            "scope": "class",
            "class_id": school.klass.id,
            "reason": "disruptive",
        },
    )
    assert blocked.status_code == 201, blocked.text
    assert classmate.wait_for("removed")["code"] == "blocked"
    teacher.wait_for("presence", lambda p: school.classmate.id not in {u["id"] for u in p["users"]})
    assert student.call("chat:send", {"schedule_id": sid, "body": "after"})["ok"]
    teacher.wait_for("chat:message", lambda m: m["body"] == "after")
    assert student.call("chat:send", {"schedule_id": sid, "body": "after 2"})["ok"]
    teacher.wait_for("chat:message", lambda m: m["body"] == "after 2")
    assert [m["body"] for m in classmate.of("chat:message")] == expected
    assert (
        classmate.call("chat:send", {"schedule_id": sid, "body": "x"})["error"]["code"] == "blocked"
    )


def test_rate_limit_is_shared_between_processes(school, two_servers, clients, app):
    server_a, server_b = two_servers
    sid = school.schedule.id
    on_a = _connect(clients, server_a, school.student, app, sid)
    on_b = _connect(clients, server_b, school.student, app, sid)
    answers = [
        (on_a if n % 2 else on_b).call("chat:send", {"schedule_id": sid, "body": f"{n}"})
        for n in range(40)
    ]
    # 30 per hour per user across both processes; a per-process limit would let all 40 through.
    assert [a["ok"] for a in answers] == [True] * 30 + [False] * 10
    assert {a["error"]["code"] for a in answers[30:]} == {"rate_limited"}


def test_every_client_on_either_process_ends_with_the_true_presence_list(
    school, two_servers, clients, app, make_user
):
    """Each process coalesces its own sockets' joins and leaves, and the lists are read and
    published in one order through Redis: whichever process announced last, every client's
    last list is who is there."""
    from portal.core import classes

    server_a, server_b = two_servers
    sid = school.schedule.id
    students = [make_user("student") for _ in range(12)]
    classes.enrol(school.teacher, school.klass.id, [s.id for s in students])
    db.session.commit()
    teacher = _connect(clients, server_a, school.teacher, app, sid)
    watcher = _connect(clients, server_b, school.classmate, app, sid)
    pages = []
    for n, student in enumerate(students):
        page = LiveClient(
            server_a if n % 2 else server_b, _token(student), origin=app.config["BASE_URL"]
        )
        clients.append(page)
        pages.append(page.connect())

    def change(n: int) -> None:
        assert pages[n].join(sid)["ok"]
        if n % 3 == 0:  # a third leave again at once, on both processes
            assert pages[n].call("leave", {"schedule_id": sid})["ok"]

    threads = [threading.Thread(target=change, args=(n,)) for n in range(len(pages))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    truth = {school.teacher.id, school.classmate.id} | {
        s.id for n, s in enumerate(students) if n % 3
    }

    def ids(announcement) -> set[int]:
        return {u["id"] for u in announcement["users"]}

    listening = [teacher, watcher] + [p for n, p in enumerate(pages) if n % 3]
    for client in listening:
        client.wait_for("presence", lambda p: ids(p) == truth)
    # Nothing changes any more; a list read earlier must not arrive after the true one.
    time.sleep(5 * 0.3)  # five of the default coalescing windows
    for client in listening:
        assert ids(client.of("presence")[-1]) == truth
    assert ids(teacher.call("presence", {"schedule_id": sid})) == truth
