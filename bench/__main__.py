"""python -m bench [scenario ...]: run the benchmarks, print one table, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

from bench.common import Result
from bench.report import print_table, write_results

# reminders last: its run() sets process-wide PORTAL_* defaults that point into a directory it
# removes.
SCENARIOS = [
    "boot_cpu",
    "join_cpu",
    "reminder_cpu",
    "storm",
    "rush",
    "chat",
    "calendar",
    "sfu",
    "reminders",
]
# Run only when named: it starts nginx and a second portal (docs/deploy.md).
ON_REQUEST = ["scaleout"]


def parse_scenarios(argv: list[str]) -> list[str]:
    """The scenarios named on the command line (all of them without a name). `--help` or a
    misspelt name exits before anything runs, so bench/RESULTS.md keeps the last real run."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the benchmarks, print one table and write bench/RESULTS.md. Each "
        "scenario also runs alone with its own options: python -m bench.<scenario> --help.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"one or more of: {', '.join(SCENARIOS + ON_REQUEST)} (default: all but "
        f"{', '.join(ON_REQUEST)})",
    )
    chosen: list[str] = parser.parse_args(argv).scenarios
    unknown = [name for name in chosen if name not in SCENARIOS + ON_REQUEST]
    if unknown:
        parser.error(
            f"no scenario {', '.join(unknown)}; the scenarios: {', '.join(SCENARIOS + ON_REQUEST)}"
        )
    return chosen or list(SCENARIOS)


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str]) -> int:
    chosen = parse_scenarios(argv)
    results: list[Result] = []
    begun = time.monotonic()
    for name in chosen:
        started = time.monotonic()
        load_before = _load()
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            results.extend(module.run())
        except Exception as exc:
            traceback.print_exc()
            results.append(
                Result(name, "scenario failed", f"{type(exc).__name__}: {exc}"[:200], met=False)
            )
        results.append(
            Result(
                name,
                "scenario run time",
                round(time.monotonic() - started, 1),
                "s",
                note=f"load average 1/5/15 min: {load_before} before, {_load()} after",
            )
        )
    total = round(time.monotonic() - begun, 1)
    results.append(
        Result(
            "python -m bench",
            "total run time",
            total,
            "s",
            "< 900 s",
            total < 900,
            ", ".join(chosen),
        )
    )
    print_table(results)
    write_results(results, Path(__file__).resolve().parent / "RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
