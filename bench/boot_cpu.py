"""CPU of an app's start in a fresh process: `import portal` and `create_app()` with every
installed plugin, as each Celery worker, served portal, realtime server and test worker pays
it. Each measured process is started N times and its CPU (user + system, from the kernel's
accounting of the child) is reported as the median; an empty interpreter (`python -c pass`)
is measured the same way, so the portal's own share is the difference.

No services: SQLite in memory, and create_app connects to nothing.

Run alone: `python -m bench.boot_cpu [--runs 9]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from bench.common import SECRET_KEY, Result
from bench.join_cpu import _calibration_ms

SCENARIO = "app start in a fresh process (import portal + create_app, all plugins)"
TARGET_MS = 1000.0
_BOOT = (
    "import portal; "
    f"portal.create_app({{'DATABASE_URL': 'sqlite://', 'SECRET_KEY': {SECRET_KEY!r}}}); "
    # Then its own CPU once create_app has returned (ready to serve) and its modules: the
    # rest of the process's CPU is its exit. (resource is built in: nothing to measure.)
    "import resource, sys; r = resource.getrusage(resource.RUSAGE_SELF); "
    "print((r.ru_utime + r.ru_stime) * 1000, len(sys.modules))"
)


def _cpu_ms(code: str, env: dict[str, str]) -> tuple[float, str]:
    """User + system CPU ms of one fresh `python -c code` (children included), and what it
    printed."""
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    printed = process.stdout.read()  # before the wait: a full pipe would block the child
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if process.returncode:
        raise RuntimeError(f"`python -c {code!r}` exited with {process.returncode}")
    return (usage.ru_utime + usage.ru_stime) * 1000, printed


def run(runs: int = 9) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench_boot_") as instance:
        env = dict(os.environ, PORTAL_INSTANCE_PATH=instance)
        # Bytecode as a deployed portal has it: the first run writes what is missing.
        _cpu_ms(_BOOT, dict(env, PYTHONDONTWRITEBYTECODE=""))
        floor = statistics.median(_cpu_ms("pass", env)[0] for _ in range(runs))
        starts = [_cpu_ms(_BOOT, env) for _ in range(runs)]
    boot = statistics.median(cpu for cpu, _ in starts)
    ready = statistics.median(float(printed.split()[0]) for _, printed in starts)
    modules = int(starts[0][1].split()[1])
    own = boot - floor
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    note = f"median of {runs} processes; load average {load}"
    return [
        Result(SCENARIO, "CPU of an empty interpreter (python -c pass)", round(floor), "ms"),
        Result(
            SCENARIO,
            "CPU of import portal + create_app (process minus empty interpreter)",
            round(own),
            "ms",
            f"< {TARGET_MS:.0f} ms",
            own < TARGET_MS,
            note,
        ),
        Result(
            SCENARIO,
            "of which until create_app returns / the interpreter's exit",
            f"{ready:.0f} / {boot - ready:.0f}",
            "ms",
            note=f"{modules} modules loaded (the exit frees them all)",
        ),
        Result(
            SCENARIO,
            "CPU of a fixed pure-Python loop (machine speed now)",
            round(_calibration_ms(), 1),
            "ms",
            note="compare the start's CPU across runs only at a similar value",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    from bench.report import print_table

    print_table(run(args.runs))


if __name__ == "__main__":
    main()
