"""The realtime process's garbage collector is tuned once it has started (issue 20's rush:
with 5,000 sockets a full collection cost ~0.9 s CPU, a quarter of the process's CPU):
what start-up made is frozen out of later collections and the thresholds are
PORTAL_REALTIME_GC_THRESHOLDS. Only a process the server owns is tuned, never a test's."""

from __future__ import annotations

import asyncio
import gc

import pytest

from portal import realtime_server


@pytest.fixture
def gc_restored():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _start_and_stop(server: realtime_server.RealtimeServer) -> None:
    async def run() -> None:
        await server.startup()
        await server.shutdown()

    asyncio.run(run())


def test_a_server_that_owns_its_process_tunes_its_collector_at_start_up(app, gc_restored):
    app.config["REALTIME_GC_THRESHOLDS"] = "40000,15,5"
    gc.unfreeze()
    _start_and_stop(realtime_server.RealtimeServer(app, owns_process=True))
    assert gc.get_threshold() == (40000, 15, 5)
    assert gc.get_freeze_count() > 0


def test_the_default_thresholds_and_an_untuned_process(app, gc_restored):
    assert realtime_server.gc_thresholds(app.config["REALTIME_GC_THRESHOLDS"]) == (50000, 20, 10)
    assert realtime_server.gc_thresholds("") is None
    before = gc.get_threshold()
    gc.unfreeze()
    _start_and_stop(realtime_server.RealtimeServer(app))  # a test's (or bench's) in-process server
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


@pytest.mark.parametrize("setting", ["fast", "1,2,3,4", "-1", "100,x"])
def test_a_bad_setting_is_refused_at_start(app, setting):
    app.config["REALTIME_GC_THRESHOLDS"] = setting
    with pytest.raises(ValueError, match="PORTAL_REALTIME_GC_THRESHOLDS"):
        realtime_server.RealtimeServer(app, owns_process=True)
