"""`make test` runs the suite in pytest-xdist workers: each worker must use its own Redis
database, ports and session database, and a test file must stay on one worker."""

from __future__ import annotations

import socket

import portal_testing
import pytest
import sqlalchemy as sa
from portal_testing import FIRST_PORT, PORT_BLOCK, free_port, worker_redis_url


def test_each_worker_gets_the_redis_database_below_the_previous_ones():
    assert worker_redis_url("redis://127.0.0.1:6379/15", 0) == "redis://127.0.0.1:6379/15"
    assert worker_redis_url("redis://127.0.0.1:6379/15", 1) == "redis://127.0.0.1:6379/14"
    assert worker_redis_url("redis://:pw@cache:6380/10?x=1", 2) == "redis://:pw@cache:6380/8?x=1"
    assert worker_redis_url("redis://127.0.0.1:6379", 0) == "redis://127.0.0.1:6379/0"


def test_a_worker_without_a_redis_database_left_fails_instead_of_sharing_one():
    with pytest.raises(pytest.fail.Exception, match="no Redis database number left"):
        worker_redis_url("redis://127.0.0.1:6379/0", 1)


def test_free_ports_come_from_this_workers_block_and_can_be_bound():
    ports = [free_port() for _ in range(5)]
    assert len(set(ports)) == 5
    block = range(
        20000 + portal_testing.WORKER_INDEX * PORT_BLOCK,
        20000 + (portal_testing.WORKER_INDEX + 1) * PORT_BLOCK,
    )
    assert all(port in block for port in ports)
    assert block.start == FIRST_PORT
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports[0]))


def test_a_port_in_use_is_skipped():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        assert all(free_port() != port for _ in range(PORT_BLOCK + 5))


def test_the_session_database_is_this_workers_own(database_url):
    worker = portal_testing.XDIST_WORKER
    name = sa.engine.make_url(database_url).database or ""
    if database_url.startswith("postgresql"):
        assert name.startswith(f"portal_test_{worker or 'main'}_")
    elif worker:  # SQLite: a file in this worker's own pytest tmp dir
        assert f"popen-{worker}" in name


def test_a_test_file_runs_whole_on_one_worker(request):
    if not request.config.pluginmanager.hasplugin("xdist"):
        pytest.skip("pytest-xdist is not loaded")
    [group] = list(request.node.iter_markers("xdist_group"))
    assert group.args == ("tests/test_parallel_workers.py",)
