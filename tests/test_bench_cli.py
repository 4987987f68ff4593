"""`python -m bench` with a typo or --help must not replace bench/RESULTS.md: that file is the
record of the last real run (each figure measured in it), and a run of nothing would erase it."""

from pathlib import Path

import pytest

from bench.__main__ import SCENARIOS, main, parse_scenarios

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "RESULTS.md"


@pytest.mark.parametrize("argv", [["--help"], ["storms"], ["rush", "nosuch"]])
def test_help_or_an_unknown_scenario_exits_without_writing_results(argv, capsys):
    before = RESULTS.read_bytes()
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert RESULTS.read_bytes() == before
    out, err = capsys.readouterr()
    if argv == ["--help"]:
        assert exited.value.code == 0
        assert "rush" in out and "scaleout" in out
    else:
        assert exited.value.code == 2
        assert "no scenario" in err and "the scenarios: " in err and "join_cpu" in err


def test_no_name_runs_every_default_scenario_and_a_named_one_alone():
    assert parse_scenarios([]) == SCENARIOS
    assert "scaleout" not in SCENARIOS
    assert parse_scenarios(["scaleout"]) == ["scaleout"]
