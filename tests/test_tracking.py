"""Experiment tracking (behemoth.tracking): training curves and sweep tables in TensorBoard and
Weights & Biases (offline), never part of a model's identity, never changing a weight."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from behemoth.cli.main import main
from behemoth.errors import ConfigError
from behemoth.model import model_preset, resolve_run, train_model
from behemoth.model.train import partial_dir
from behemoth.tracking import (
    BACKENDS,
    LogTarget,
    TensorBoardTracker,
    log_sweep,
    require,
    sweep_scalars,
    training_scalars,
)
from behemoth.world import World

# a few seconds of training: 24 steps of 8 sequences, evaluated every 6 on one probe set
SHORT = {
    "batch_size": 8,
    "max_tokens": 24 * 8 * 32,
    "warmup_steps": 4,
    "eval_every": 6,
    "checkpoint_every": 5,
    "target_accuracy": "null",
    "eval_sets": "[sro]",
}
STEPS = [0, 6, 12, 18, 24]


def _cfg(**extra: object) -> Any:
    over = [f"train.{k}={v}" for k, v in {**SHORT, **extra}.items()]
    return resolve_run(model_preset("tiny"), None, over)


def _scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the TensorBoard run in ``directory`` -> [(step, value)], as
    TensorBoard itself reads it (purged steps dropped)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}


class _Kill(Exception):
    pass


@pytest.fixture(scope="module")
def trained(tiny_world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same recipe trained without logging, with TensorBoard (straight, and killed at step
    13 then resumed), and with W&B offline (network proxies pointed at a closed local port; every
    Python-level connect recorded)."""
    root = tmp_path_factory.mktemp("tracking")
    cfg = _cfg()
    out: dict[str, Any] = {"plain": train_model(tiny_world, cfg, root / "plain", progress=False)}
    tb = LogTarget.of("tensorboard", root / "tb", root / "tb_model")
    out["tb"] = train_model(tiny_world, cfg, root / "tb_model", progress=False, log=tb)

    def kill(step: int, info: dict[str, object]) -> None:
        if step == 13:
            raise _Kill

    # the config's train.log selects the backend too (its directory: train.log_dir)
    logged = _cfg(log="tensorboard", log_dir=str(root / "tb_resumed"))
    with pytest.raises(_Kill):
        train_model(tiny_world, logged, root / "resumed", progress=False, on_step=kill)
    assert partial_dir(root / "resumed").exists()
    out["resumed"] = train_model(tiny_world, logged, root / "resumed", resume=True, progress=False)

    mp = pytest.MonkeyPatch()
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "WANDB_BASE_URL"):
        mp.setenv(var, "http://127.0.0.1:9")  # a call that went out would fail, and be logged
    mp.delenv("WANDB_API_KEY", raising=False)
    connects: list[Any] = []

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
            connects.append(args[1])

    sys.addaudithook(audit)  # cannot be removed: it records into a list only this fixture reads
    try:
        wb = LogTarget.of("wandb", root / "wb", root / "wb_model")
        out["wandb"] = train_model(tiny_world, cfg, root / "wb_model", progress=False, log=wb)
    finally:
        mp.undo()
    out["wandb_dir"] = root / "wb"
    out["tb_dir"], out["tb_resumed_dir"] = root / "tb", root / "tb_resumed"
    out["connects"] = connects
    return out


@pytest.mark.slow
def test_logging_changes_no_weight(trained: dict[str, Any]) -> None:
    """With TensorBoard, with W&B, and logged through a kill and resume: the very bytes of the
    model trained without logging (weights, log, metadata: no trace of the log setting)."""
    for name in ("tb", "resumed", "wandb"):
        for f in ("model.safetensors", "train_log.jsonl", "behemoth_model.json"):
            assert (trained[name] / f).read_bytes() == (trained["plain"] / f).read_bytes(), (
                name,
                f,
            )


@pytest.mark.slow
def test_tensorboard_holds_the_training_curves(trained: dict[str, Any]) -> None:
    scalars = _scalars(trained["tb_dir"])
    for tag in ("train/lr", "train/tokens", "probe/sro/acc", "probe/sro/loss"):
        assert [s for s, _ in scalars[tag]] == STEPS, tag
    # the mean loss since the previous evaluation and the speed exist from the first interval
    assert [s for s, _ in scalars["train/loss"]] == STEPS[1:]
    assert [s for s, _ in scalars["train/tokens_per_s"]] == STEPS[1:]
    assert all(v > 0 for _, v in scalars["train/tokens_per_s"])
    assert [v for _, v in scalars["train/tokens"]] == [s * 8 * 32 for s in STEPS]
    # the values are the trainer's own records
    import json

    log = [json.loads(x) for x in (trained["tb"] / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == STEPS
    np.testing.assert_allclose(
        [v for _, v in scalars["train/loss"]], [r["train_loss"] for r in log[1:]], rtol=1e-6
    )
    np.testing.assert_allclose(
        [v for _, v in scalars["probe/sro/acc"]], [r["sets"]["sro"]["acc"] for r in log]
    )


@pytest.mark.slow
def test_a_resumed_run_logs_each_step_once(trained: dict[str, Any]) -> None:
    """Killed at step 13, after the evaluation at 12 and the checkpoint at 10, and resumed:
    TensorBoard sees each evaluation once (the writer purges what the interrupted run logged after the checkpoint)
    with the straight run's values."""
    straight, resumed = _scalars(trained["tb_dir"]), _scalars(trained["tb_resumed_dir"])
    for tag in ("probe/sro/acc", "probe/sro/loss", "train/loss", "train/lr"):
        assert [s for s, _ in resumed[tag]] == [s for s, _ in straight[tag]], tag
        np.testing.assert_allclose([v for _, v in resumed[tag]], [v for _, v in straight[tag]])


@pytest.mark.slow
def test_wandb_writes_an_offline_run_and_never_the_network(trained: dict[str, Any]) -> None:
    runs = sorted((trained["wandb_dir"] / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    data = next(runs[0].glob("run-*.wandb")).read_bytes()
    for tag in (b"train/loss", b"train/lr", b"train/tokens_per_s", b"probe/sro/acc"):
        assert tag in data
    assert trained["connects"] == []  # no Python-level connection to any host
    core = (runs[0] / "logs" / "debug-internal.log").read_text()
    assert '"level":"ERROR"' not in core and "127.0.0.1:9" not in core


def test_log_is_no_part_of_a_model_identity(tiny_world: World) -> None:
    """train.log / train.log_dir are not saved with the config, so neither a sweep's model key
    nor a retain oracle's key changes with them (and a resumed run's config check ignores it)."""
    from behemoth.experiments.replicates import model_key
    from behemoth.model.retain_oracle import oracle_plan
    from behemoth.world.exclude import exclusion_mask

    plain, logged = _cfg(), _cfg(log="wandb", log_dir="/tmp/somewhere")
    assert logged.train.log == "wandb" and plain.train.log is None
    assert logged.to_dict() == plain.to_dict()
    assert "log" not in logged.to_dict()["train"] and "log:" not in logged.to_yaml()
    assert model_key(tiny_world, logged.to_dict()) == model_key(tiny_world, plain.to_dict())
    mask = exclusion_mask(tiny_world.graph, np.array([0, 5]))
    keys = [
        oracle_plan({"config": c.to_dict(), "result": {"steps": 7}}, tiny_world, mask)[2]
        for c in (plain, logged)
    ]
    assert keys[0] == keys[1]


def test_unknown_log_value_named_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^train\.log: .*'tensorboard' or 'wandb'") as e:
        _cfg(log="tensorbord")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="did you mean 'tensorboard'"):
        require("tensorbord")


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (
            ["tensorbord"],
            "--log: unknown tracking backend 'tensorbord'; did you mean 'tensorboard'",
        ),
        (["tensorboard", "a", "b"], "--log: takes BACKEND [DIR], not 3 values"),
        (["tensorboard", "{out}/tb"], "inside the output"),
        (["tensorboard", "{tmp}/afile"], "is a file"),
    ],
)
def test_bad_log_flag_is_one_line(
    tiny_world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    log: list[str],
    message: str,
) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "m"
    log = [a.replace("{out}", str(out)).replace("{tmp}", str(tmp_path)) for a in log]
    argv = ["train", str(tiny_world.path), "--preset", "tiny", "--out", str(out), "--log", *log]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists() and not partial_dir(out).exists()


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_missing_extra_is_one_line_naming_it(
    tiny_world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    """Without the package, --log (and train.log) fail before anything is loaded or written,
    naming the extra to install."""
    monkeypatch.setitem(sys.modules, BACKENDS[backend].module, None)  # import raises ImportError
    out = tmp_path / "m"
    argv = ["train", str(tiny_world.path), "--preset", "tiny", "--out", str(out)]
    assert main([*argv, "--log", backend]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--log: {backend} needs the package {BACKENDS[backend].package}" in err
    assert "behemoth[tracking]" in err
    assert main([*argv, "--train.log", backend]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("behemoth: error: train.log: ") and "behemoth[tracking]" in err
    with pytest.raises(ConfigError, match=r"^train\.log: .*install the extra 'tracking'"):
        train_model(tiny_world, _cfg(log=backend), out, progress=False)
    assert not out.exists() and not partial_dir(out).exists()
    assert not (tmp_path / f"m.{backend}").exists()


def test_training_scalars_from_a_record() -> None:
    rec = {
        "step": 20,
        "tokens": 5120,
        "lr": 0.001,
        "train_loss": 2.5,
        "epochs": None,
        "sets": {"sro": {"acc": 0.5, "loss": 1.25}, "rso": {"acc": 0.25, "loss": 2.0}},
    }
    got = training_scalars(rec, seconds=12.0, last=(2560, 10.0))
    assert got == {
        "train/lr": 0.001,
        "train/tokens": 5120.0,
        "train/loss": 2.5,
        "train/tokens_per_s": 1280.0,
        "probe/sro/acc": 0.5,
        "probe/sro/loss": 1.25,
        "probe/rso/acc": 0.25,
        "probe/rso/loss": 2.0,
    }
    first = training_scalars({**rec, "train_loss": None}, seconds=1.0, last=None)
    assert "train/loss" not in first and "train/tokens_per_s" not in first


def test_sweep_scalars_one_per_metric_split_and_checkpoint() -> None:
    base = {"group": "efficacy", "metric": "efficacy", "split": "sro"}
    rows = [
        {**base, "phase": "pre", "checkpoint": 0, "value": 0.0},
        {**base, "phase": "post", "checkpoint": 5, "value": 0.6},
        {**base, "phase": "post", "checkpoint": 10, "value": 0.8},
        {**base, "split": "rso", "phase": "post", "checkpoint": 10, "value": None},
        {"group": "cost", "metric": "update_rank", "split": "all", "checkpoint": None,
         "edits_applied": 10, "phase": None, "value": 3.0},
        # a post row at 0 edits beside the pre row: kept apart by phase
        {"group": "g", "metric": "m", "split": "s", "phase": "pre", "checkpoint": 0, "value": 1.0},
        {"group": "g", "metric": "m", "split": "s", "phase": "post", "checkpoint": 0, "value": 2.0},
    ]  # fmt: skip
    assert sweep_scalars(rows) == {
        0: {"efficacy/efficacy/sro": 0.0, "g/m/s/pre": 1.0, "g/m/s/post": 2.0},
        5: {"efficacy/efficacy/sro": 0.6},
        10: {"cost/update_rank/all": 3.0, "efficacy/efficacy/sro": 0.8},
    }
    assert list(sweep_scalars(rows)) == [0, 5, 10]  # logged in step order


def test_sweep_log_tensorboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``behemoth sweep SPEC --log tensorboard DIR`` (toy runs): one TensorBoard run per
    finished run, one scalar per (metric, split) at each checkpoint, the labels as hparams; a
    failed run left out; logging again replaces, never duplicates."""
    import yaml
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    import behemoth.experiments.sweep as sweep_pkg
    from tests.experiments.sweep.conftest import toy_spec_dict
    from tests.report.toy import TOY_FN

    real = sweep_pkg.run_sweep
    monkeypatch.setattr(sweep_pkg, "run_sweep", lambda *a, **k: real(*a, **{**k, "run_fn": TOY_FN}))
    spec = toy_spec_dict(
        scenarios={
            "single": {"name": "single"},
            "stream": {"name": "stream", "settings": {"n": 6}},
        },
        editors={
            "lora": {"name": "lora", "grid": {"rank": [1, 4]}},
            "bad": {"name": "ft", "settings": {"lr": 0.123}, "scenarios": ["single"]},
        },
        seeds=[0],
        eval_every=3,
    )
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    out, logdir = tmp_path / "sweep", tmp_path / "tb"
    argv = ["sweep", str(tmp_path / "spec.yaml"), "--out", str(out), "--workers", "0"]
    assert main([*argv, "--log", "tensorboard", str(logdir)]) == 1  # the bad run failed
    printed = capsys.readouterr().out
    assert f"tensorboard --logdir {logdir}" in printed and "1 failed runs left out" in printed

    table = pd.read_parquet(out / "results.parquet")
    ok = table[(table.status == "ok") & table.value.notna()]
    runs = sorted(ok.run_id.unique())
    assert sorted(p.name for p in logdir.iterdir()) == runs and len(runs) == 4
    total = 0
    for run_id in runs:
        rows = ok[ok.run_id == run_id]
        scalars = _scalars(logdir / run_id)
        total += sum(len(v) for v in scalars.values())
        steps = rows.checkpoint.fillna(0).astype(int)
        tags = rows.group + "/" + rows.metric + "/" + rows.split
        # the toy keeps its pre rows at the first checkpoint: apart from the post rows by phase
        shared = rows.assign(tag=tags, step=steps).duplicated(["tag", "step"], keep=False)
        tags = tags.where(~shared, tags + "/" + rows.phase)
        for tag, step, value in zip(tags, steps, rows.value):
            assert dict(scalars[tag])[step] == pytest.approx(value)
        ea = EventAccumulator(str(logdir / run_id))
        ea.Reload()
        start = HParamsPluginData.FromString(
            ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        ).session_start_info
        first = rows.iloc[0]
        assert start.hparams["editor"].string_value == first.label_editor
        assert start.hparams["scenario"].string_value == first.label_scenario
        assert start.hparams["seed"].number_value == first.seed
    assert total == len(ok)  # one scalar per (run, metric, split, checkpoint)

    # logged again (the resumed sweep's command): the same scalars, once each
    again = log_sweep(out, LogTarget.of("tensorboard", logdir, out))
    assert (again.runs, again.scalars, again.failed) == (4, len(ok), 1)
    for run_id in runs:
        assert len(list((logdir / run_id).glob("events.out.tfevents.*"))) == 1


def test_tensorboard_tracker_writes_hparams_and_config(tmp_path: Path) -> None:
    t = TensorBoardTracker(tmp_path / "r", "r", {"seed": 3, "train": {"lr": 0.01}})
    t.log({"a/b": 1.0}, 0)
    t.log({"a/b": 2.0}, 4)
    t.hparams({"editor": "rome", "seed": 3}, {"a/b": 2.0})
    t.close()
    t.close()  # idempotent
    assert _scalars(tmp_path / "r") == {"a/b": [(0, 1.0), (4, 2.0)]}


def test_sweep_log_wandb_offline(tmp_path: Path) -> None:
    """A sweep table to W&B: one offline run per finished run, its labels in the config, the
    last checkpoint's values in the summary; a failed run left out."""
    base = {"status": "ok", "label_world": "w", "label_model": "m", "label_scenario": "single"}
    rows = [
        {**base, "run_id": "rome-1", "label_editor": "rome", "seed": 0, "replicate": 0,
         "group": "efficacy", "metric": "efficacy", "split": "sro", "phase": "post",
         "checkpoint": 2, "value": 0.5},
        {**base, "run_id": "rome-1", "label_editor": "rome", "seed": 0, "replicate": 0,
         "group": "efficacy", "metric": "efficacy", "split": "sro", "phase": "pre",
         "checkpoint": 0, "value": 0.0},
        {**base, "run_id": "ft-2", "label_editor": "ft", "seed": 0, "replicate": 0,
         "status": "failed", "group": "run", "metric": "run_failed", "split": "", "phase": None,
         "checkpoint": None, "value": None},
    ]  # fmt: skip
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    pd.DataFrame(rows).to_parquet(sweep / "results.parquet")
    done = log_sweep(sweep, LogTarget.of("wandb", tmp_path / "wb", sweep))
    assert (done.runs, done.scalars, done.failed) == (1, 2, 1)
    (run,) = (tmp_path / "wb" / "wandb").glob("offline-run-*")
    data = next(run.glob("run-*.wandb")).read_bytes()
    assert b"efficacy/efficacy/sro" in data and b"rome" in data


@pytest.mark.slow
def test_wandb_opens_no_network_socket(tmp_path: Path) -> None:
    """Every socket the W&B backend's process tree creates (Python and wandb's service binary),
    traced by strace: only Unix sockets (the service's own), never an internet one."""
    import shutil
    import subprocess

    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/setup.sh installs it where it may)")
    code = (
        "from behemoth.tracking import LogTarget\n"
        f"t = LogTarget.of('wandb', {str(tmp_path / 'wb')!r}, {str(tmp_path / 'o')!r})"
        ".open('r', {'a': 1})\n"
        "t.log({'x/y': 1.0}, 0); t.hparams({'a': 1}, {'x/y': 1.0}); t.close()\n"
    )
    trace = tmp_path / "trace.log"
    argv = [strace, "-f", "-qq", "-e", "signal=none", "-e", "trace=socket,connect"]
    done = subprocess.run(
        [*argv, "-o", str(trace), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    calls = trace.read_text().splitlines()
    assert any("AF_UNIX" in c for c in calls)  # the trace saw the service's socket
    assert not [c for c in calls if "AF_INET" in c]
    (run,) = (tmp_path / "wb" / "wandb").glob("offline-run-*")
    assert b"x/y" in next(run.glob("run-*.wandb")).read_bytes()
