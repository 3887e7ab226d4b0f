"""``behemoth edit --oracle``: a forget run judged against the retain oracle (forget quality,
MIA AUCs, PrivLeak and their noise floor, printed and recorded), through the same judgment step
as a sweep's runs (``run_experiment`` with ``oracle: true``) and the unlearning study; without ``--oracle`` one line says these
figures need it; on a scenario that forgets nothing, one line refuses it.

The two oracles are looked up in ``<cache>/oracles`` by their keys; copies of the tiny model
placed there stand in for them (training one, once, is tests/evaluation/test_unlearning_oracle.py's
business), so the run reads them instead of training; the stand-ins are identical, so the noise
floor is exact: forget quality p = 1, KS D = 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from behemoth.cli.main import main
from behemoth.errors import ConfigError
from behemoth.world import World

EDIT = ["--scenario", "forget-relation", "--editor", "ga", "--editor.steps", "2"]


def _stand_in_oracles(tiny_model: Path, world: World, cache: Path) -> None:
    """Copies of the tiny model as oracles 1 and 2 of forget-relation (ga's stop_share)."""
    from behemoth.evaluation.unlearning.judge import forget_split
    from behemoth.model.load import read_model_meta
    from behemoth.model.retain_oracle import oracle_plan
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world.exclude import exclusion_mask

    split = forget_split(world, build_scenario(world, "forget-relation", {}), 0.2)
    mask = exclusion_mask(world.graph, split.forgotten, split.forget_sno)
    for i in (0, 1):
        _, _, key = oracle_plan(read_model_meta(tiny_model), world, mask, i)
        shutil.copytree(tiny_model, cache / "oracles" / key)


@pytest.fixture(scope="module")
def judged(
    tiny_model: Path, tiny_world: World, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("edit-oracle")
    cache, out = root / "cache", root / "out"
    _stand_in_oracles(tiny_model, tiny_world, cache)
    before = sorted(p.name for p in (cache / "oracles").iterdir())
    mp = pytest.MonkeyPatch()
    mp.setenv("BEHEMOTH_CACHE", str(cache))
    text = io.StringIO()
    try:
        with contextlib.redirect_stdout(text):
            rc = main(["edit", str(tiny_model), *EDIT, "--oracle", "--out", str(out)])
    finally:
        mp.undo()
    return {"rc": rc, "out": out, "cache": cache, "stdout": text.getvalue(), "before": before}


@pytest.mark.slow
def test_edit_oracle_prints_and_records_the_judgment(judged: dict[str, Any]) -> None:
    assert judged["rc"] == 0
    text = judged["stdout"]
    for label in ("forget quality (KS p)", "MIA AUC Min-K% 40%", "MIA AUC loss", "PrivLeak % loss"):
        line = next(x for x in text.splitlines() if label in x)
        assert "n=" in line and "noise floor, oracle 2 vs 1" in line, line
    assert "need --oracle" not in text
    # found in the cache, not trained: the cache holds the two stand-ins (and their locks)
    names = sorted(p.name for p in (judged["cache"] / "oracles").iterdir())
    assert [n for n in names if not n.endswith(".lock")] == judged["before"]
    edit = json.loads((judged["out"] / "edit.json").read_text())
    est = edit["unlearning"]["estimates"]
    assert est["noise/forget_quality"]["value"] == 1.0 and est["noise/ks_d"]["value"] == 0.0
    # (the stand-ins are the original, which knows its forget set: AUC ~0, so PrivLeak, a
    # ratio to the oracle's AUC, is not defined and written as null)
    assert est["noise/auc/min_k"]["n"] == 64 and "noise/privleak/min_k" in est
    assert (
        edit["unlearning"]["stop_set_apart"] == 16 and edit["unlearning"]["forget_measured"] == 64
    )
    rec = pd.read_parquet(judged["out"] / "records.parquet")
    u = rec[rec["group"] == "unlearning"]
    metrics = set(u["metric"])
    assert {"forget_quality", "model_utility", "auc", "privleak", "noise_auc"} <= metrics
    assert set(u["edits_applied"]) == {80} and set(u["phase"]) == {"post"}
    assert u[u["metric"] == "forget_quality"]["n"].iloc[0] == 64
    exp = (judged["out"] / "experiment.yaml").read_text()
    assert "oracle: true" in exp


@pytest.mark.slow
def test_unlearning_study_is_a_thin_caller(
    judged: dict[str, Any], tiny_model: Path, tiny_world: World, tmp_path: Path
) -> None:
    """``python -m behemoth.experiments.unlearning``: each method is the edit run of
    ``behemoth edit``, judged by the same step; its ga row is the CLI's judgment."""
    from behemoth.experiments.unlearning import main as study

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        study(
            [str(tiny_model), "--methods", "ga", "--cache", str(judged["cache"]),
             "--relearn-steps", "1", "--out", str(tmp_path / "study")]
        )  # fmt: skip
    study_rows = json.loads((tmp_path / "study" / "rows.json").read_text())
    assert [r["name"] for r in study_rows] == [
        "original", "retain oracle", "retain oracle 2 (noise floor)", "ga"
    ]  # fmt: skip
    assert study_rows[1]["metrics"]["forget_quality"]["value"] == 1.0  # oracle 1 vs itself
    assert "| ga |" in text.getvalue()
    # the study's run of the CLI's method (ga, 2 steps, seed 0): the CLI's very judgment
    from behemoth.experiments.unlearning import run_unlearning
    from behemoth.scenarios.scenario import build_scenario

    scenario = build_scenario(tiny_world, "forget-relation", {})
    rows = run_unlearning(
        tiny_model, tiny_world, scenario, {"ga": {"steps": 2}}, cache=judged["cache"],
        relearn_steps=1, work_dir=tmp_path / "work",
    )  # fmt: skip
    ga = rows[-1].metrics
    cli = json.loads((judged["out"] / "edit.json").read_text())["unlearning"]["estimates"]
    assert ga.keys() == cli.keys()
    for key, e in cli.items():
        got = ga[key]
        assert (got.n, _none(got.value), _none(got.lo), _none(got.hi)) == (
            e["n"], e["value"], e["ci_low"], e["ci_high"]
        ), key  # fmt: skip
    # without the oracle (the method read from the work cache): no oracle rows, no quality
    bare = run_unlearning(
        tiny_model, tiny_world, scenario, {"ga": {"steps": 2}}, with_oracle=False,
        relearn_steps=1, work_dir=tmp_path / "work",
    )  # fmt: skip
    assert [r.name for r in bare] == ["original", "ga"]
    assert bare[1].metrics["forget_acc"] == ga["forget_acc"]
    assert bare[1].metrics["forget_quality"].value != bare[1].metrics["forget_quality"].value


def _none(x: float) -> float | None:
    return None if x != x else x


def test_oracle_without_forgetting_is_refused_before_the_load(
    quick_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import behemoth.experiments.run as run_mod
    from behemoth.experiments.config import ExperimentConfig

    def no_load(*_a: object, **_k: object) -> object:
        raise AssertionError("the model was loaded before the oracle was checked")

    monkeypatch.setattr(run_mod, "load_run_model", no_load)
    cfg = ExperimentConfig.from_dict(
        {"model": str(quick_model), "scenario": "single", "editor": "ft", "oracle": True}
    )
    with pytest.raises(ConfigError) as e:
        run_mod.run_experiment(cfg, None)
    assert str(e.value).startswith("--oracle: scenario single")
    assert "forget-relation" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.slow
def test_a_forget_run_without_oracle_says_what_needs_it(
    quick_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["edit", str(quick_model), *EDIT, "--out", str(tmp_path / "o")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if "--oracle" in x]
    assert lines == [
        "forget quality, MIA AUCs and PrivLeak (against the retain oracle, with their noise "
        "floor) need --oracle"
    ]
    assert "unlearning" not in json.loads((tmp_path / "o" / "edit.json").read_text())


def test_the_note_is_for_forget_scenarios_only() -> None:
    from types import SimpleNamespace

    from behemoth.cli.edit import oracle_note

    def result(tests: dict[str, None]) -> Any:
        runs = [SimpleNamespace(scenario=SimpleNamespace(tests=tests))]
        return SimpleNamespace(config=SimpleNamespace(oracle=False), runs=runs)

    assert "need --oracle" in oracle_note(result({"forgetting/forgotten": None}))
    assert oracle_note(result({"efficacy/edits": None})) == ""
