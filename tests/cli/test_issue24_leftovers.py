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


@pytest.mark.parametrize("command", ["sweep", "demo"])
def test_sweep_and_demo_say_nothing_before_their_inputs_are_checked(
    command: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from behemoth.cli.common import configure_threads

    monkeypatch.delenv("BEHEMOTH_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with caplog.at_level(logging.INFO):
        configure_threads(command, argparse.Namespace(threads=None))
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []


def test_train_serac_takes_the_shared_threads_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import os

    from behemoth import threads
    from behemoth.cli.common import configure_threads
    from behemoth.cli.main import build_parser

    monkeypatch.delenv(threads.ENV, raising=False)
    args = build_parser("train-serac").parse_args(
        ["train-serac", "W", "--scenario", "k-different", "--out", "o", "--threads", "2"]
    )
    assert isinstance(args, argparse.Namespace) and args.threads == 2
    configure_threads("train-serac", args)
    assert os.environ[threads.ENV] == "2"  # train-serac's threads: what --threads asked
    assert build_parser("lens").parse_args(["lens", "M", "--threads", "3"]).threads == 3
