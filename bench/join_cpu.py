"""CPU per join, in one process: the join endpoint called N times through the Flask test
client on PostgreSQL, with the BigBlueButton simulator (real HTTP on 127.0.0.1) as backend.

No gunicorn, no network client, no other tenant's queueing: what it reports is the portal's
own work per join, the figure the rush's 2 ms target is about. Per join it reports:

- CPU ms (`time.process_time`, this process only: the simulator is not called by a join);
- SQL statements (a `before_cursor_execute` listener on the engine);
- plugin hook calls (pluggy's hook-call monitoring);
- the floor: CPU ms of an authenticated no-op API request through the same client, so
  the join's own share is the difference;
- the same two through `app.wsgi_app(environ, start_response)` with a prebuilt environ, as
  gunicorn calls the app: the test client's own request building is not counted.

`--profile` runs the measured joins under pyinstrument and prints the top frames
(docs/bench.md keeps them before and after each change); `--cprofile` under cProfile
timed by CPU time (the functions that cost CPU, not the ones that waited);
`--profile-floor` cProfiles the WSGI no-op request.

Run alone: `python -m bench.join_cpu [--classes 5] [--students-per-class 100] [--profile]`.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from werkzeug.test import EnvironBuilder

from bench.common import REDIS_URL, SECRET_KEY, Result, fresh_database
from bench.storm import _seed, _start_simulator, simulator_backend

SCENARIO = "join in process (test client, PostgreSQL, BBB simulator)"
WARM_UP = 50


@contextmanager
def _counting(app: Any):
    """Counts SQL statements and plugin hook calls while the block runs."""
    from sqlalchemy import event

    from portal.extensions import db, limiter

    counts = {"statements": 0, "hooks": 0, "limiter": 0}

    def on_statement(*_args: Any) -> None:
        counts["statements"] += 1

    def before_hook(*_args: Any) -> None:
        counts["hooks"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_statement)
    undo = app.extensions["portal.pm"].add_hookcall_monitoring(before_hook, lambda *a: None)
    # Flask-Limiter's storage round trips: every hit/test/window read of its strategy.
    with app.test_request_context():
        strategy = limiter.limiter
    originals = {name: getattr(strategy, name) for name in ("hit", "test", "get_window_stats")}

    def counted(call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts["limiter"] += 1
            return call(*args, **kwargs)

        return wrapper

    for name, call in originals.items():
        setattr(strategy, name, counted(call))
    try:
        yield counts
    finally:
        for name, call in originals.items():
            setattr(strategy, name, call)
        undo()
        event.remove(engine, "before_cursor_execute", on_statement)


def wsgi_request(app: Any, token: str, method: str, path: str) -> Callable[[], None]:
    """One authenticated API request as gunicorn makes it: a prebuilt environ handed to the
    app's WSGI callable, no test client around it (its request building and response
    wrapping are not the portal's cost). The call fails unless the answer is a 200."""
    environ = EnvironBuilder(
        path=path, method=method, headers={"Authorization": f"Bearer {token}"}
    ).get_environ()

    def call() -> None:
        statuses: list[str] = []

        def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
            statuses.append(status)

        body = app.wsgi_app(
            {**environ, "wsgi.input": io.BytesIO()},
            start_response,  # type: ignore[arg-type]
        )
        try:
            answer = b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        assert statuses[0].startswith("200"), (statuses, answer[:300])

    return call


def _cpu_ms_each(calls: list[Callable[[], Any]]) -> float:
    started = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - started) * 1000 / len(calls)


def run(
    classes_count: int = 5,
    students_per_class: int = 100,
    profile: bool = False,
    database_url: str | None = None,
    cprofile: bool = False,
    profile_floor: bool = False,
) -> list[Result]:
    from portal import create_app

    sim, api_url, secret = _start_simulator(0)
    try:
        with fresh_database("bench_join") if database_url is None else _given(database_url) as url:
            seed = _seed(url, classes_count, classes_count * students_per_class)
            app = create_app(
                {
                    "DATABASE_URL": url,
                    "SECRET_KEY": SECRET_KEY,
                    "REDIS_URL": os.environ.get("BENCH_JOIN_REDIS_URL", REDIS_URL),
                    "LOG_JSON": True,
                }
            )
            client = app.test_client()

            def post(token: str, path: str, **kwargs: Any) -> Any:
                return client.post(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

            created = post(
                seed["admin"],
                "/api/admin/backends",
                json=simulator_backend(api_url, secret, checksum_algorithm="sha256"),
            )
            assert created.status_code == 201, created.get_data(as_text=True)
            for token, schedule_id in seed["teachers"]:
                started = post(token, f"/api/schedules/{schedule_id}/start")
                assert started.status_code == 200, started.get_data(as_text=True)

            def join(token: str, schedule_id: int) -> Callable[[], None]:
                def call() -> None:
                    response = post(token, f"/api/schedules/{schedule_id}/join")
                    assert response.status_code == 200, response.get_data(as_text=True)

                return call

            def floor(token: str) -> Callable[[], None]:
                # The cheapest authenticated API request: JWT, user, commit, JSON, headers.
                def call() -> None:
                    response = client.get(
                        "/api/auth/me", headers={"Authorization": f"Bearer {token}"}
                    )
                    assert response.status_code == 200, response.get_data(as_text=True)

                return call

            students = seed["students"]
            for call in [join(t, s) for t, s in students[:WARM_UP]]:
                call()
            first = [join(t, s) for t, s in students[WARM_UP:]]
            again = [join(t, s) for t, s in students[:WARM_UP]]
            floors = [floor(t) for t, _ in students[: len(first)]]
            wsgi_floors = [
                wsgi_request(app, t, "GET", "/api/auth/me") for t, _ in students[: len(first)]
            ]
            wsgi_joins = [
                wsgi_request(app, t, "POST", f"/api/schedules/{s}/join")
                for t, s in students[: len(first)]
            ]
            with _counting(app) as counts:
                if profile:
                    from pyinstrument import Profiler

                    profiler = Profiler(interval=0.0005)
                    profiler.start()
                if cprofile:
                    import cProfile

                    # CPU time, not wall time: on a shared machine waiting is not our cost.
                    cpu_profiler = cProfile.Profile(time.process_time)
                    cpu_profiler.enable()
                first_ms = _cpu_ms_each(first)
                if profile:
                    profiler.stop()
                if cprofile:
                    cpu_profiler.disable()
            statements = counts["statements"] / len(first)
            hooks = counts["hooks"] / len(first)
            limiter_calls = counts["limiter"] / len(first)
            again_ms = _cpu_ms_each(again)
            floor_ms = _cpu_ms_each(floors)
            wsgi_floor_ms = _cpu_ms_each(wsgi_floors)
            wsgi_join_ms = _cpu_ms_each(wsgi_joins)
            if profile_floor:
                import cProfile
                import pstats

                floor_profiler = cProfile.Profile(time.process_time)
                floor_profiler.enable()
                _cpu_ms_each(wsgi_floors)
                floor_profiler.disable()
                floor_stats = pstats.Stats(floor_profiler)
                if os.environ.get("BENCH_PROFILE_OUT"):  # for pstats / snakeviz afterwards
                    floor_stats.dump_stats(os.environ["BENCH_PROFILE_OUT"])
                floor_stats.sort_stats("tottime").print_stats(25)
                floor_stats.sort_stats("cumulative").print_stats(45)
            if profile:
                print(profiler.output_text(unicode=False, color=False, show_all=False))
            if cprofile:
                import pstats

                stats = pstats.Stats(cpu_profiler)
                stats.sort_stats("tottime").print_stats(30)
                stats.sort_stats("cumulative").print_stats("portal|flask|werkzeug|jwt|limiter", 60)
    finally:
        sim.terminate()
        sim.wait(10)
    calibration_ms = _calibration_ms()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    note = f"{len(first)} first joins in {classes_count} classes; load average {load}"
    return [
        Result(
            SCENARIO,
            "CPU per join (first join)",
            round(first_ms, 2),
            "ms",
            "<= 2 ms",
            first_ms <= 2,
            note,
        ),  # fmt: skip
        Result(SCENARIO, "CPU per join (joining again)", round(again_ms, 2), "ms", note=note),
        Result(
            SCENARIO,
            "CPU per authenticated no-op request (floor)",
            round(floor_ms, 2),
            "ms",
            note="GET /api/auth/me through the same test client",
        ),
        Result(
            SCENARIO,
            "CPU per join, WSGI call (as gunicorn runs it)",
            round(wsgi_join_ms, 2),
            "ms",
            "<= 2 ms",
            wsgi_join_ms <= 2,
            note="app.wsgi_app(environ, start_response), no test client; joining again",
        ),
        Result(
            SCENARIO,
            "CPU per authenticated no-op request, WSGI call (floor)",
            round(wsgi_floor_ms, 2),
            "ms",
            note="GET /api/auth/me through app.wsgi_app, no test client",
        ),
        Result(SCENARIO, "SQL statements per join", round(statements, 2)),
        Result(SCENARIO, "plugin hook calls per join", round(hooks, 2)),
        Result(SCENARIO, "Flask-Limiter storage calls per join", round(limiter_calls, 2)),
        Result(
            SCENARIO,
            "CPU of a fixed pure-Python loop (machine speed now)",
            round(calibration_ms, 1),
            "ms",
            note="compare CPU per join across runs only at a similar value",
        ),
    ]


def _calibration_ms() -> float:
    """CPU ms of a fixed pure-Python loop: on a shared machine (other tenants, turbo, shared
    caches) the same work costs more CPU time under load, so a CPU-per-join figure is only
    comparable to another measured at a similar calibration value."""
    started = time.process_time()
    total = 0
    for n in range(2_000_000):
        total += n % 7
    return (time.process_time() - started) * 1000


@contextmanager
def _given(url: str):
    yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--students-per-class", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="pyinstrument (wall time)")
    parser.add_argument("--cprofile", action="store_true", help="cProfile on CPU time")
    parser.add_argument(
        "--profile-floor", action="store_true", help="cProfile the WSGI no-op request"
    )
    args = parser.parse_args(argv)
    for result in run(
        args.classes,
        args.students_per_class,
        args.profile,
        cprofile=args.cprofile,
        profile_floor=args.profile_floor,
    ):
        print(f"{result.figure}: {result.value} {result.unit}  {result.note}")


if __name__ == "__main__":
    main()
