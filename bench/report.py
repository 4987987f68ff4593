from __future__ import annotations

import os
from pathlib import Path

from bench.common import Result, machine


def table(results: list[Result]) -> str:
    lines = [
        f"Machine: {machine()}",
        "",
        "| scenario | figure | value | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        met = "" if r.met is None else ("yes" if r.met else "**NO**")
        value = f"{r.value} {r.unit}".strip()
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.scenario} | {r.figure} | {value}{note} | {r.target} | {met} |")
    return "\n".join(lines)


def print_table(results: list[Result]) -> None:
    print(table(results), flush=True)


def write_results(results: list[Result], path: Path) -> None:
    missed = [r for r in results if r.met is False]
    text = [
        "# Benchmark results",
        "",
        "Written by `make bench`; every figure is measured in that run.",
        "",
        table(results),
        "",
    ]
    if missed:
        text += ["## Missed targets", ""] + [
            f"- {r.scenario}: {r.figure} = {r.value} {r.unit} (target {r.target}) {r.note}"
            for r in missed
        ]
        text += [
            "",
            "Load average at the end of the run: "
            f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min) "
            f"on {os.cpu_count()} cores. Above the core "
            "count every figure includes waiting for a CPU; "
            "see each scenario's load average and the server handling rows.",
        ]
    path.write_text("\n".join(text) + "\n")
