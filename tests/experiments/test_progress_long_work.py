"""Long work is not silent (issue 23): ``train --no-progress`` logs one plain line per
evaluation; the unlearning runner shows its steps through ``behemoth.progress.bar``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from behemoth.model import model_preset, resolve_run, train_model
from behemoth.model.train import eval_line
from behemoth.world import World


def test_eval_line_is_one_plain_line() -> None:
    rec = {"step": 50, "tokens": 102400, "train_loss": 2.5, "sets": {"sro": {"acc": 0.25}}}
    line = eval_line(rec, "sro", 200, 12.4)
    assert line == "train step 50/200 (25%), 102,400 tokens, loss 2.500, sro acc 0.250, 12 s"
    assert "\r" not in eval_line({**rec, "train_loss": None}, "sro", 200, 0.0)


def test_train_without_progress_logs_a_line_per_evaluation(
    tiny_world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = resolve_run(model_preset("tiny"), None, ["train.eval_every=5"])
    with caplog.at_level(logging.INFO, logger="behemoth.model.train"):
        train_model(tiny_world, cfg, tmp_path / "m", progress=False, until_step=10)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("train step")]
    assert [x.split(",")[0] for x in lines] == [
        f"train step {s}/{cfg.train.total_steps} ({100 * s / cfg.train.total_steps:.0f}%)"
        for s in (0, 5, 10)
    ]
    assert "loss -" in lines[0] and "acc" in lines[-1]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="behemoth.model.train"):  # a bar instead
        train_model(tiny_world, cfg, tmp_path / "m2", progress=True, until_step=5)
    assert not [r for r in caplog.records if r.getMessage().startswith("train step")]


@pytest.mark.slow
def test_unlearning_runner_shows_each_step(
    tiny_model: Path,
    tiny_world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from behemoth.experiments.unlearning import run_unlearning
    from behemoth.scenarios.scenario import build_scenario

    monkeypatch.setenv("BEHEMOTH_PROGRESS_EVERY", "0")  # a line at every step (pytest: a pipe)
    sc = build_scenario(tiny_world, "forget-relation", [])
    methods = {"ga": {"steps": 2}}
    kw = {"work_dir": tmp_path / "work", "methods_only": True, "relearn_steps": 2}
    assert run_unlearning(tiny_model, tiny_world, sc, methods, **kw) == []
    err = capsys.readouterr().err
    lines = [x for x in err.split("\n") if x.startswith("unlearning ")]
    assert [x.split(",")[0] for x in lines[:3]] == [
        f"unlearning {i}/3 step ({i / 3:.0%})" for i in (1, 2, 3)
    ]
    assert "ga applied" in lines[0] and "ga relearning attack" in lines[2]
    assert lines[-1].endswith("done")
    assert all("\r" not in x for x in err.split("\n") if "unlearning " in x)  # plain lines
    # cached methods: the same three steps, at once
    run_unlearning(tiny_model, tiny_world, sc, methods, **kw)
    assert "ga cached" in capsys.readouterr().err
