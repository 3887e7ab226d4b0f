"""The sweep runner: resume, failure isolation, shared artifacts built once, kill and restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from behemoth.config import validate
from behemoth.experiments.sweep import SweepSpec, expand, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from tests.experiments.sweep.conftest import TOY_FN, toy_spec_dict

ROOT = Path(__file__).resolve().parents[3]


def _run(spec: dict[str, Any], out: Path, workers: int = 0) -> Any:
    return run_sweep(
        validate(SweepSpec, spec),
        out,
        backend=LocalBackend(workers),
        run_fn=TOY_FN,
        progress=False,
    )


def test_resume_skips_finished_runs(tmp_path: Path, toy_spec: dict[str, Any]) -> None:
    first = _run(toy_spec, tmp_path / "s")
    assert (first.done, first.failed, first.skipped) == (16, 0, 0)
    table = (tmp_path / "s" / "results.parquet").read_bytes()
    again = _run(toy_spec, tmp_path / "s")
    assert (again.done, again.skipped) == (0, 16)
    assert (tmp_path / "s" / "results.parquet").read_bytes() == table
    # the world artifact was built once for all 16 runs
    assert (tmp_path / "s" / "shared" / "builds.log").read_text().count("\n") == 1
    rows = pq.read_table(tmp_path / "s" / "results.parquet").to_pylist()
    assert {r["run_id"] for r in rows} == {r.run_id for r in first.runs}
    assert all(json.loads(r["config"])["editor"]["name"] in ("lora", "rome") for r in rows)


def test_a_failing_run_is_recorded_and_the_others_go_on(
    tmp_path: Path, toy_spec: dict[str, Any]
) -> None:
    toy_spec["editors"]["bad"] = {"name": "ft", "settings": {"lr": 0.123}}
    res = _run(toy_spec, tmp_path / "s")
    assert (res.done, res.failed) == (16, 4)
    rows = pq.read_table(tmp_path / "s" / "results.parquet").to_pylist()
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 4 and all("poison" in r["error"] for r in failed)
    # a restart retries only the failed runs
    again = _run(toy_spec, tmp_path / "s")
    assert (again.skipped, again.failed) == (16, 4)


@pytest.mark.slow
def test_pool_and_inline_give_the_same_table(tmp_path: Path, toy_spec: dict[str, Any]) -> None:
    _run(toy_spec, tmp_path / "a", workers=0)
    _run(toy_spec, tmp_path / "b", workers=2)
    assert (tmp_path / "a" / "results.parquet").read_bytes() == (
        tmp_path / "b" / "results.parquet"
    ).read_bytes()


@pytest.mark.slow
def test_a_dying_worker_fails_only_its_run(tmp_path: Path, toy_spec: dict[str, Any]) -> None:
    toy_spec["editors"]["killer"] = {
        "name": "ft",
        "settings": {"lr": 0.456},
        "scenarios": ["single"],
    }
    toy_spec["seeds"] = [0]
    res = _run(toy_spec, tmp_path / "s", workers=2)
    assert (res.done, res.failed) == (8, 1)
    rows = pq.read_table(tmp_path / "s" / "results.parquet").to_pylist()
    assert [r["error"] for r in rows if r["status"] == "failed"] == [
        "WorkerDied: the process running it died (killed, or out of memory)"
    ]


SCRIPT = """
import sys
from behemoth.config import validate
from behemoth.experiments.sweep import SweepSpec, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from tests.experiments.sweep.conftest import TOY_FN, toy_spec_dict
run_sweep(validate(SweepSpec, toy_spec_dict()), sys.argv[1], backend=LocalBackend(0),
          run_fn=TOY_FN, progress=False)
"""


@pytest.mark.slow
def test_kill_and_restart_gives_the_same_table(tmp_path: Path) -> None:
    """SIGKILL the sweep at several points (mid-run, mid-write); the restarted sweep's final
    table is byte-identical to an uninterrupted one's."""
    _run(toy_spec_dict(), tmp_path / "ref")
    out = tmp_path / "killed"
    env = {**os.environ, "TOY_SLEEP": "0.05", "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    cmd = [sys.executable, "-c", SCRIPT, str(out)]
    for delay in (1.0, 1.5, 2.0, 2.5):
        p = subprocess.Popen(cmd, env=env)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
    subprocess.run(cmd, env=env, check=True)
    assert (out / "results.parquet").read_bytes() == (
        tmp_path / "ref" / "results.parquet"
    ).read_bytes()
    assert len(expand(validate(SweepSpec, toy_spec_dict()))) == len(list((out / "runs").iterdir()))


def test_schedule_starts_every_model_then_groups_runs_by_model() -> None:
    """Workers first build different models in parallel, then take runs grouped by model in the
    order the models were started (a run of a model still training comes last)."""
    from behemoth.experiments.config import ExperimentConfig
    from behemoth.experiments.sweep.runner import _interleave
    from behemoth.experiments.sweep.spec import RunSpec

    def run(i: int, world: str) -> RunSpec:
        experiment = ExperimentConfig.model_construct(world=world, model="m")
        return RunSpec(run_id=f"r{i}", experiment=experiment, labels={})

    runs = [run(0, "a"), run(1, "a"), run(2, "b"), run(3, "a"), run(4, "c"), run(5, "b")]
    assert [r.run_id for r in _interleave(runs)] == ["r0", "r2", "r4", "r1", "r3", "r5"]


@pytest.mark.slow  # a worker pool: its start costs seconds, more on a loaded machine
def test_status_line_is_redrawn_while_runs_are_silent(
    tmp_path: Path, toy_spec: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """A sweep whose runs take longer than the progress period still draws its status line
    every period (a plain line in a pipe), naming what the shared directory is training."""
    monkeypatch.setenv("TOY_SLEEP", "2")
    monkeypatch.setenv("BEHEMOTH_PROGRESS_EVERY", "0.5")
    partial = tmp_path / "shared" / "models" / "0123456789abcdef.partial"
    partial.mkdir(parents=True)
    (partial / "train_log.jsonl").write_text(
        json.dumps({"step": 900, "sets": {"sro": {"acc": 0.625}}}) + "\n" + '{"step": 1'
    )
    spec = {
        **toy_spec,
        "seeds": [0],
        "scenarios": {"single": {"name": "single"}},
        "editors": {"rome": {"name": "rome"}},
    }
    run_sweep(
        validate(SweepSpec, spec),
        tmp_path / "out",
        backend=LocalBackend(1),
        run_fn=TOY_FN,
        progress=True,
        shared=tmp_path / "shared",
    )
    err = capsys.readouterr().err
    beats = err.count("training models/01234567 step 900 sro 0.62")
    assert beats >= 3, err[-2000:]


def test_building_names_nothing_without_partial_artifacts(tmp_path: Path) -> None:
    from behemoth.experiments.sweep.runner import building

    assert building(tmp_path) == ""
    (tmp_path / "oracles" / "fedcba9876543210.partial").mkdir(parents=True)
    assert building(tmp_path) == "training oracles/fedcba98"
