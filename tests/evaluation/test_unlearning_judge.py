"""The retain-oracle judgment step (``evaluation/unlearning/judge.py``) on synthetic
measurements: its estimates are :func:`summarize`'s, its rows name the noise floor
``noise_<metric>``, the editor's ``stop_share`` decides what is set apart, and an oracle on disk
is measured once (no trained model needed here; the model paths: tests/cli/test_edit_oracle.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from behemoth.errors import ConfigError
from behemoth.evaluation.unlearning import judge
from behemoth.evaluation.unlearning.judge import (
    OracleJudgment,
    check_forget,
    describe_judgment,
    estimate_rows,
    is_forget,
    stop_share,
)
from behemoth.evaluation.unlearning.report import Estimate, ForgetSplit, summarize
from tests.experiments.test_unlearning_table import _measured

NAN = float("nan")


def test_stop_share_follows_the_editor_settings() -> None:
    assert stop_share({}) == 0.2  # the unlearning trainer's default
    assert stop_share(None) == 0.2
    assert stop_share({"stop_share": 0.3, "steps": 5, "rank": 8}) == 0.3  # others ignored
    assert stop_share({"stop_when_forgotten": False, "stop_share": 0.3}) is None  # a budget


def test_rows_name_metric_split_and_noise_floor() -> None:
    rows = estimate_rows(
        {
            "forget_quality": Estimate(0.04, NAN, NAN, 64),
            "retain_acc/sro": Estimate(0.9, 0.85, 0.95, 200),
            "auc/min_k": Estimate(0.3, 0.2, 0.4, 64),
            "noise/forget_quality": Estimate(0.5, NAN, NAN, 64),
            "noise/privleak/min_k": Estimate(-3.0, -9.0, 4.0, 64),
        }
    )
    got = {(r["metric"], r["split"]): r for r in rows}
    assert set(got) == {
        ("forget_quality", "forgotten"),
        ("retain_acc", "sro"),
        ("auc", "min_k"),
        ("noise_forget_quality", "forgotten"),
        ("noise_privleak", "min_k"),
    }
    fq = got[("forget_quality", "forgotten")]
    assert fq["ci_low"] is None and fq["ci_high"] is None  # a p-value has no interval
    assert (fq["higher_is_better"], fq["ideal"], fq["n"]) == (True, 1.0, 64)
    auc = got[("auc", "min_k")]
    assert (auc["ci_low"], auc["ci_high"], auc["ideal"]) == (0.2, 0.4, 0.5)
    assert got[("noise_privleak", "min_k")]["ideal"] == 0.0
    assert {r["group"] for r in rows} == {"unlearning"} and {r["phase"] for r in rows} == {"post"}


def _judgment(oracles: int = 2) -> tuple[OracleJudgment, list[Any]]:
    rng = np.random.default_rng(3)
    original, edited = _measured(rng, 1.0, 2.0), _measured(rng, 0.3, 0.5)
    ors = [_measured(rng, 0.1, 0.0) for _ in range(oracles)]
    split = ForgetSplit(np.arange(40), np.arange(40, 80))
    dirs = [Path(f"/somewhere/oracles/key{i}") for i in range(oracles)]
    return OracleJudgment(split, edited, original, ors, dirs, seed=5), [original, edited, *ors]


def test_judgment_is_summarize_against_oracle_one_with_the_noise_floor() -> None:
    j, (original, edited, o1, o2) = _judgment()
    want = summarize(edited, o1, original, seed=5, oracle2=o2)
    assert j.estimates.keys() == want.keys()
    for k, e in want.items():
        got = j.estimates[k]
        assert (got.n, math.isnan(got.value)) == (e.n, math.isnan(e.value)), k
        assert math.isnan(e.value) or got.value == e.value, k
    rows = {(r["metric"], r["split"]): r for r in j.rows()}
    assert ("noise_forget_quality", "forgotten") in rows and ("noise_auc", "min_k") in rows
    assert rows[("privleak", "min_k")]["value"] == want["privleak/min_k"].value
    # any model on the split, against the same oracles: an oracle judged against itself
    assert j.summary(o1)["forget_quality"].value == 1.0
    doc = j.to_json()
    assert doc["oracles"] == ["key0", "key1"]  # cache keys, never a machine-local path
    json.dumps(doc, allow_nan=False)  # NaN written as null
    text = describe_judgment(j)
    assert "forget quality (KS p)" in text and "PrivLeak % Min-K% 40%" in text
    assert text.count("noise floor, oracle 2 vs 1") >= 4


def test_one_oracle_gives_no_noise_floor() -> None:
    j, _ = _judgment(oracles=1)
    assert not [k for k in j.estimates if k.startswith("noise/")]
    assert "noise floor" not in describe_judgment(j)


def test_a_scenario_that_forgets_nothing_is_refused() -> None:
    edit = SimpleNamespace(name="single", mode="edit", tests={"efficacy/edits": None})
    assert not is_forget(edit)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as e:
        check_forget(edit)  # type: ignore[arg-type]
    assert str(e.value).startswith("--oracle: scenario single (edit) forgets no facts")
    assert is_forget(SimpleNamespace(tests={"forgetting/forgotten": None}))  # type: ignore[arg-type]


def test_zero_oracles_is_refused(tmp_path: Path) -> None:
    split = ForgetSplit(np.arange(3), np.arange(3, 5))
    with pytest.raises(ConfigError, match="oracle_replicates"):
        judge.oracle_dirs(tmp_path, None, split, tmp_path, replicates=0)  # type: ignore[arg-type]


def test_an_oracle_on_disk_is_measured_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import behemoth.model as model_pkg

    calls: list[str] = []
    rng = np.random.default_rng(0)
    m = _measured(rng, 0.1, 0.0)
    monkeypatch.setattr(model_pkg, "load_model", lambda d, w: (str(d), None))

    def counted(model: str, *_a: object, **_k: object) -> Any:
        calls.append(model)
        return m

    monkeypatch.setattr(judge, "measure", counted)
    monkeypatch.setattr(judge, "_MEASURED", {})
    world = SimpleNamespace(fingerprint="w")
    split = ForgetSplit(np.arange(4), np.arange(4, 6))
    other = ForgetSplit(np.arange(5), np.arange(5, 6))
    for _ in range(3):
        assert judge.measure_oracle(tmp_path / "a", world, split, 0) is m  # type: ignore[arg-type]
    judge.measure_oracle(tmp_path / "a", world, other, 0)  # type: ignore[arg-type]
    judge.measure_oracle(tmp_path / "a", world, split, 1)  # type: ignore[arg-type]
    assert len(calls) == 3  # once per (oracle, split, seed)
