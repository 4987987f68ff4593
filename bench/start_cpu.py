"""CPU per class start, in one process: the teacher's press (`POST /api/schedules/<id>/start`
called as gunicorn calls the app) with the class's students' waiting pages present in the
room (their presence entries in Redis, as the rush's sockets leave them), on PostgreSQL with
the BigBlueButton simulator (real HTTP on 127.0.0.1, no added latency) as backend.

The start is the teacher's part of the 09:00 rush (bench/rush.py): claim the meeting,
create it on the backend, record the waiting students present, queue the "class started"
notices and push `class:started`. Per start it reports CPU ms (`time.process_time`, this
process only: the simulator's create runs in its own process), SQL statements and the
statements' rows (one per student would show as statements growing with the class).

`--cprofile` runs the measured starts under cProfile timed by CPU time and prints the top
frames (docs/bench.md keeps them before and after each change).

Run alone: `python -m bench.start_cpu [--classes 25] [--students-per-class 100] [--cprofile]`.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench.common import REDIS_URL, SECRET_KEY, Result, fresh_database
from bench.join_cpu import _calibration_ms, _counting, wsgi_request
from bench.storm import _seed, _start_simulator, simulator_backend

SCENARIO = "class start in process (WSGI call, PostgreSQL, BBB simulator, waiting pages)"
WARM_UP = 3


def run(
    classes_count: int = 25, students_per_class: int = 100, cprofile: bool = False
) -> list[Result]:
    from portal import create_app
    from portal.core import live_state

    sim, api_url, secret = _start_simulator(0)
    redis_url = os.environ.get("BENCH_START_REDIS_URL", REDIS_URL)
    try:
        with fresh_database("bench_start") as url:
            seed = _seed(
                url, classes_count + WARM_UP, (classes_count + WARM_UP) * students_per_class
            )
            app = create_app(
                {"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "REDIS_URL": redis_url}
            )
            client = app.test_client()
            created = client.post(
                "/api/admin/backends",
                headers={"Authorization": f"Bearer {seed['admin']}"},
                json=simulator_backend(api_url, secret, checksum_algorithm="sha256"),
            )
            assert created.status_code == 201, created.get_data(as_text=True)
            with app.app_context():
                live_state._redis().flushdb()
            # The waiting pages: each student's socket joins its class's room (`join`, as
            # live.js sends it on connect), served as the realtime server serves it.
            room_ms, room_statements = _room_joins(app, seed["students"], cprofile)

            calls = [
                wsgi_request(app, t, "POST", f"/api/schedules/{s}/start")
                for t, s in seed["teachers"]
            ]
            for call in calls[:WARM_UP]:
                call()
            measured = calls[WARM_UP:]
            with _counting(app) as counts:
                if cprofile:
                    import cProfile

                    profiler = cProfile.Profile(time.process_time)
                    profiler.enable()
                started = time.process_time()
                for call in measured:
                    call()
                start_ms = (time.process_time() - started) * 1000 / len(measured)
                if cprofile:
                    profiler.disable()
            statements = counts["statements"] / len(measured)
            with app.app_context():
                live_state._redis().flushdb()
            if cprofile:
                import pstats

                stats = pstats.Stats(profiler)
                if os.environ.get("BENCH_PROFILE_OUT"):
                    stats.dump_stats(os.environ["BENCH_PROFILE_OUT"])
                stats.sort_stats("tottime").print_stats(30)
                stats.sort_stats("cumulative").print_stats("portal|flask|sqlalchemy|bbb", 70)
    finally:
        sim.terminate()
        sim.wait(10)
    calibration_ms = _calibration_ms()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    note = f"{len(measured)} starts, {students_per_class} waiting pages each; load average {load}"
    joins_note = (
        f"{len(seed['students']) - WARM_UP * students_per_class} waiting pages' `join` "
        f"before the start (history, polls, state, presence); load average {load}"
    )
    return [
        Result(
            SCENARIO, "CPU per room join (waiting page)", round(room_ms, 2), "ms", note=joins_note
        ),
        Result(SCENARIO, "SQL statements per room join", round(room_statements, 2)),
        Result(SCENARIO, "CPU per start", round(start_ms, 2), "ms", note=note),
        Result(SCENARIO, "SQL statements per start", round(statements, 2)),
        Result(
            SCENARIO,
            "CPU of a fixed pure-Python loop (machine speed now)",
            round(calibration_ms, 1),
            "ms",
            note="compare CPU per start across runs only at a similar value",
        ),
    ]


def _room_joins(app: Any, students: list[tuple[str, int]], cprofile: bool) -> tuple[float, float]:
    """CPU ms and statements per room join of the waiting pages (the first classes' joins
    warm up and are not counted)."""
    from flask_jwt_extended import decode_token

    from portal import realtime, realtime_server

    with app.app_context():
        sockets = [
            (realtime._Socket(user_id=int(claims["sub"]), claims=claims), schedule_id)
            for claims, schedule_id in ((decode_token(t), s) for t, s in students)
        ]
    server = realtime_server.RealtimeServer(app, workers=1)

    def join(n: int) -> None:
        state, schedule_id = sockets[n]
        # A page joining alone: a batch of one (serve_room_joins), the dearest case.
        (answer,) = server._in_app(
            realtime.serve_room_joins,
            [(f"page{n}", state, {"schedule_id": schedule_id, "limit": 1})],
        )
        assert answer.get("ok"), answer

    warm = WARM_UP * len(students) // max(1, len({s for _, s in students}))
    for n in range(warm):
        join(n)
    with _counting(app) as counts:
        if cprofile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        started = time.process_time()
        for n in range(warm, len(sockets)):
            join(n)
        spent = time.process_time() - started
        if cprofile:
            profiler.disable()
            import pstats

            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats("portal|flask|sqlalchemy", 50)
    measured = len(sockets) - warm
    return spent * 1000 / measured, counts["statements"] / measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=25)
    parser.add_argument("--students-per-class", type=int, default=100)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args(argv)
    from bench.report import print_table

    print_table(run(args.classes, args.students_per_class, args.cprofile))


if __name__ == "__main__":
    main()
