"""Issue 24's leftovers: nothing silently clamped, no output over an input, one-line refusals."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from behemoth.cli.main import main


@pytest.mark.slow  # the trained tiny model (~1 minute once per session)
def test_trace_says_when_it_traces_fewer_facts_than_asked(
    tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "t"
    argv = ["trace", str(tiny_model), "--facts", "100000", "--samples", "1", "--out", str(out)]
    with caplog.at_level(logging.INFO):
        assert main(argv) == 0
    traced = json.loads((out / "trace.json").read_text())["facts"]
    notes = [r.getMessage() for r in caplog.records if "--facts 100000" in r.getMessage()]
    assert len(notes) == 1 and f"so {traced} were traced" in notes[0], caplog.text
    assert "\n" not in notes[0]


def test_trace_of_a_model_that_knows_nothing_is_one_line(
    quick_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t"
    argv = ["trace", str(quick_model), "--facts", "3", "--samples", "1", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--relation: the model knows none of relation 0" in err and "Error:" not in err
    assert not out.exists()
