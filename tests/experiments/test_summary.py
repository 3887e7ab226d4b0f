"""The one-screen summary of ``behemoth edit`` / ``evaluate`` and ``results.json`` (issue 23)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from behemoth.experiments.results_json import results_dict
from behemoth.experiments.summary import (
    MAX_CHECKPOINTS,
    _thin,
    describe_unedited,
    headline,
    headline_table,
    legend,
)


def _row(metric: str, group: str, split: str, phase: str, value: float, **kw: Any) -> dict:
    return {
        "metric": metric, "group": group, "split": split, "phase": phase, "value": value,
        "n": 10, "ci_low": value - 0.1, "ci_high": min(1.0, value + 0.1), "interval": "wilson",
        "family": "accuracy", "batches_applied": 1, "edits_applied": 10 if phase == "post" else 0,
        **kw,
    }  # fmt: skip


def _run(seed: int | None, effect: float, replicate: int | None = None) -> list[dict]:
    tag = {"seed": seed} | ({} if replicate is None else {"replicate": replicate})
    return [
        _row("efficacy", "efficacy", "sro", "pre", 0.0, **tag),
        _row("efficacy", "efficacy", "sro", "post", effect, **tag),
        _row("efficacy_score", "efficacy", "sro", "post", 0.5, **tag),  # not a headline figure
        _row("specificity", "specificity", "other", "pre", 0.99, **tag),
        _row("specificity", "specificity", "other", "post", 0.9, **tag),
        _row("locality", "specificity", "other", "post", 0.95, **tag),
        _row("wall_time_s", "cost", "edit", "post", 3.0, **tag),
    ]


def test_one_run_pre_and_post_side_by_side_with_its_interval() -> None:
    rows = headline(_run(0, 0.8))
    assert [(r.name, r.split) for r in rows] == [
        ("efficacy", "sro"), ("specificity", "other"), ("locality", "other"),
    ]  # fmt: skip
    eff = rows[0]
    assert (eff.pre, eff.post, eff.n, eff.over, eff.runs) == (0.0, 0.8, 10, "items", 1)
    assert (eff.ci_low, eff.ci_high, eff.interval) == (pytest.approx(0.7), 0.9, "wilson")
    text = headline_table(rows)
    lines = text.splitlines()
    assert len(lines) == 2 + 3 and "pre" in lines[0] and "post" in lines[0] and "n" in lines[0]
    assert "0.000" in lines[2] and "0.800" in lines[2] and "[0.700, 0.900]" in lines[2]
    assert "post" not in text.split("\n", 1)[1] and "^" not in text  # no unexplained arrows
    leg = legend(rows)
    assert "efficacy =" in leg and "locality =" in leg and "portability" not in leg
    assert "pre = unedited model" in leg


def test_seeds_mean_and_t_interval_over_seeds() -> None:
    effects = [0.6, 0.8, 0.9]
    rows = [r for s, e in enumerate(effects) for r in _run(s, e)]
    eff = headline(rows)[0]
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(effects), scale=stats.sem(effects))
    assert eff.post == pytest.approx(np.mean(effects)) and eff.over == "seeds" and eff.runs == 3
    assert (eff.ci_low, eff.ci_high) == (pytest.approx(lo), pytest.approx(min(hi, 1.0)))
    assert eff.n == 30  # prompts summed over the runs
    assert "mean pre" in headline_table(headline(rows)) and "over 3 seeds" in legend(headline(rows))


def test_replicates_interval_over_models_of_each_models_seed_mean() -> None:
    # two seeds on each of three trained models: the models are the independent units
    per = {0: (0.6, 0.8), 1: (0.9, 0.9), 2: (0.5, 0.7)}
    rows = [r for rep, vs in per.items() for s, v in enumerate(vs) for r in _run(s, v, rep)]
    eff = headline(rows)[0]
    means = [np.mean(v) for v in per.values()]
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(means), scale=stats.sem(means))
    assert eff.over == "models" and eff.runs == 6
    assert eff.post == pytest.approx(np.mean(means))
    assert (eff.ci_low, eff.ci_high) == (pytest.approx(max(lo, 0)), pytest.approx(min(hi, 1)))
    assert "trained models" in legend(headline(rows))


def test_only_the_last_checkpoint_of_a_stream() -> None:
    early = [{**r, "batches_applied": 1, "value": 0.1} for r in _run(0, 0.1)]
    late = [{**r, "batches_applied": 2} for r in _run(0, 0.8)]
    assert headline(early + late)[0].post == 0.8


def test_thin_keeps_first_last_and_at_most_max_checkpoints() -> None:
    seq = [
        {"edits_applied": k, "measure": "unedited_accuracy", "split": "world"} for k in range(40)
    ]
    kept, total = _thin(seq)
    marks = [r["edits_applied"] for r in kept]
    assert total == 40 and len(marks) == MAX_CHECKPOINTS and marks[0] == 0 and marks[-1] == 39


class _Rec:
    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows


class _Scenario:
    name = "k-different"
    requests = list(range(10))


def test_unedited_model_names_what_it_measured_without_post_or_efficacy_labels() -> None:
    rows = [_row("probe_accuracy", "world", "sro", "", 0.99)] + [
        r for r in _run(None, 0.0) if r["phase"] == "post"
    ]
    text = describe_unedited(_Rec(rows), _Scenario(), "models/tiny")
    assert "unedited model models/tiny" in text
    assert "answers the request's new object" in text and "answers the world's answer" in text
    assert "post" not in text.lower().replace("prompts", "")
    assert "locality" not in text  # the model compared with itself: nothing measured
    assert not any(line.startswith("efficacy ") for line in text.splitlines())


def test_results_json_layout_and_values() -> None:
    rows = [r for s, e in enumerate([0.6, 0.8, 0.9]) for r in _run(s, e)]
    d = results_dict(rows, config={"editor": "rome"}, seeds=[0, 1, 2], run_id="abc")
    assert d["results"]["efficacy"]["sro"]["post"] == pytest.approx(0.7666666)
    assert d["results"]["efficacy"]["sro"]["over"] == "seeds"
    assert d["n-samples"]["efficacy/sro"] == 30 and d["higher_is_better"]["efficacy"] is True
    assert set(d["versions"]) >= {"behemoth", "torch", "transformers"}
    assert sorted(d["per_run"]) == ["seed-0", "seed-1", "seed-2"]
    assert d["per_run"]["seed-1"]["efficacy"]["sro"]["post"] == 0.8
    json.dumps(d, allow_nan=False)  # strict JSON: NaN written as null
    ev = results_dict(
        [{**r, "ci_low": math.nan} for r in _run(None, 0.0) if r["phase"] == "post"],
        config={},
        seeds=[0],
        kind="evaluate",
    )
    assert ev["results"]["efficacy"]["sro"]["value"] == 0.0 and "post" not in str(ev["results"])
    assert "locality" not in ev["results"] and "per_run" not in ev
    assert ev["results"]["efficacy"]["sro"]["ci_low"] is None
    json.dumps(ev, allow_nan=False)
