"""The simulator run on its own (as the benchmarks do): it prints where it listens, serves the
API with the configured latency and reports per-meeting create counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from bbb_simulator import BBBSimulator
from portal_bbb_backend.client import BBBClient

SIMULATOR = Path(__file__).resolve().parent / "bbb_simulator.py"


def test_stats_count_create_calls_per_meeting_and_real_creations():
    sim = BBBSimulator(latency=0.001)
    try:
        client = BBBClient(sim.api_url, sim.secret, timeout=5)
        client.create([("meetingID", "m-1"), ("name", "Maths")])
        client.create([("meetingID", "m-1"), ("name", "Maths")])  # duplicateWarning, still a call
        client.create([("meetingID", "m-2"), ("name", "French")])
        stats = requests.get(f"{sim.origin}/_simulator/stats", timeout=5).json()
    finally:
        sim.close()
    assert stats["create_calls_by_meeting"] == {"m-1": 2, "m-2": 1}
    assert stats["meetings_created"] == 2
    assert stats["calls"] == {"create": 3}
    assert stats["latency_seconds"] == 0.001


def test_standalone_simulator_prints_its_url_and_answers_signed_calls():
    proc = subprocess.Popen(
        [sys.executable, str(SIMULATOR), "--latency-ms", "5"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().split()[1]
        secret = proc.stdout.readline().split()[1]
        root = BBBClient(url, secret, timeout=5).create(
            [("meetingID", "standalone"), ("name", "Standalone")]
        )
        assert root.findtext("returncode") == "SUCCESS"
        stats = requests.get(url.split("/bigbluebutton")[0] + "/_simulator/stats", timeout=5).json()
        assert stats["create_calls_by_meeting"] == {"standalone": 1}
        assert stats["latency_seconds"] == 0.005
    finally:
        proc.kill()
        proc.wait(10)
