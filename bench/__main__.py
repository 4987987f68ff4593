"""python -m bench [scenario ...]: run the benchmarks, print one table, write bench/RESULTS.md."""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.common import Result
from bench.report import print_table, write_results

SCENARIOS = ["calendar"]


def main(argv: list[str]) -> int:
    chosen = argv or SCENARIOS
    results: list[Result] = []
    for name in chosen:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            results.extend(module.run())
        except Exception as exc:
            traceback.print_exc()
            results.append(Result(name, "scenario failed", f"{type(exc).__name__}: {exc}"[:200], met=False))
        results.append(Result(name, "scenario run time", round(time.monotonic() - started, 1), "s"))
    print_table(results)
    write_results(results, Path(__file__).resolve().parent / "RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
