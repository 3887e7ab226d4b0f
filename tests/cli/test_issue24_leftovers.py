"""Issue 24's leftovers: nothing silently clamped, no output over an input, one-line refusals."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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


def _table(path: Path, **columns: list[object]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


SWEEP_ROW = {"run_id": ["r0"], "metric": ["efficacy"], "split": ["edit"], "value": [1.0]}

DAMAGED: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty results.parquet": (lambda d: (d / "results.parquet").write_bytes(b""), "readable"),
    "results without run_id": (
        lambda d: _table(d / "results.parquet", metric=["a"], split=["s"], value=[1.0]),
        "no column run_id",
    ),
    "records of another schema": (lambda d: _table(d / "records.parquet", x=[1]), "no column"),
    "records with text values": (
        lambda d: _table(d / "records.parquet", metric=["a"], split=["s"], value=["x"]),
        "not numbers",
    ),
    "records without rows": (
        lambda d: _table(d / "records.parquet", metric=[], split=[], value=[]),
        "no rows",
    ),
    "sweep.json without keys": (
        lambda d: (
            _table(d / "results.parquet", **SWEEP_ROW),
            (d / "sweep.json").write_text("{}"),
        ),
        "sweep.json: not a sweep manifest",
    ),
    "sweep.json a list": (
        lambda d: (
            _table(d / "results.parquet", **SWEEP_ROW),
            (d / "sweep.json").write_text("[1]"),
        ),
        "sweep.json: not a sweep manifest",
    ),
    "sweep.json garbage": (
        lambda d: (
            _table(d / "results.parquet", **SWEEP_ROW),
            (d / "sweep.json").write_text("{nope"),
        ),
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGED))
@pytest.mark.parametrize("command", ["report", "compare"])
def test_damaged_tables_are_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    damage, needle = DAMAGED[case]
    folder = tmp_path / "dmg"
    folder.mkdir()
    damage(folder)
    argv = {
        "report": ["report", str(folder), "--out", str(tmp_path / "rep")],
        "compare": ["compare", str(folder), str(folder)],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and str(folder) in err[0], err
    assert "Error:" not in err[0]  # no raw library text (KeyError: 'run_id', ArrowInvalid: ...)
    assert not (tmp_path / "rep").exists()


def test_generate_refuses_a_world_beyond_memory_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import behemoth.world.world as ww

    monkeypatch.setattr(ww, "_available_memory", lambda: 300_000_000)  # 300 MB free
    out = tmp_path / "w"
    argv = ["generate", "--preset", "tiny", "--world.subjects", "200000", "--no-shards"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "subjects: 200,000 subjects x 4 relations" in err[0], err
    assert "--force-size" in err[0] and not out.exists()
    # the estimate: libraries + one graph edge and probe rows per fact
    assert ww.estimate_memory_bytes(ww.WorldConfig.from_dict({"subjects": 1000})) > 0
    monkeypatch.setattr(ww, "check_memory", lambda cfg: pytest.fail("checked despite --force-size"))
    small = ["generate", "--preset", "tiny", "--no-shards", "--force-size", "--out", str(out)]
    assert main(small) == 0
