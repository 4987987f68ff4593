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
    f"portal.create_app({{'DATABASE_URL': 'sqlite://', 'SECRET_KEY': {SECRET_KEY!r}}})"
)
# The same start, reporting its CPU when create_app has returned (the process is ready to
# serve) and how many modules it loaded; the rest of the whole process is its exit.
_READY = (
    _BOOT + "; import resource, sys; r = resource.getrusage(resource.RUSAGE_SELF); "
    "print((r.ru_utime + r.ru_stime) * 1000, len(sys.modules))"
)


def _cpu_ms(code: str, env: dict[str, str]) -> float:
    """User + system CPU ms of one fresh `python -c code` (children included)."""
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"`python -c {code!r}` exited with {process.returncode}")
    return (usage.ru_utime + usage.ru_stime) * 1000


def _ready(env: dict[str, str]) -> tuple[float, int]:
    """CPU ms of one fresh process when its create_app returned, and its modules."""
    out = subprocess.run(
        [sys.executable, "-c", _READY], env=env, capture_output=True, text=True, check=True
    )
    cpu, modules = out.stdout.split()
    return float(cpu), int(modules)


def run(runs: int = 9) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench_boot_") as instance:
        env = dict(os.environ, PORTAL_INSTANCE_PATH=instance)
        # Bytecode as a deployed portal has it: the first run writes what is missing.
        _cpu_ms(_BOOT, dict(env, PYTHONDONTWRITEBYTECODE=""))
        floor = statistics.median(_cpu_ms("pass", env) for _ in range(runs))
        boot = statistics.median(_cpu_ms(_BOOT, env) for _ in range(runs))
        readies = [_ready(env) for _ in range(runs)]
    ready = statistics.median(cpu for cpu, _ in readies)
    modules = readies[0][1]
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
