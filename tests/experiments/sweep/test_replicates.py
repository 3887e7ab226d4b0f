"""Trained replicates as a sweep axis: each its own init and data order, trained once, named in
every row; the run's items are kept so any row's figure can be recomputed from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.experiments.sweep import SweepSpec, expand, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from tests.experiments.sweep.conftest import toy_spec_dict


def test_replicates_expand_into_models_with_their_own_seeds() -> None:
    spec = toy_spec_dict(models={"m": {"preset": "tiny", "replicates": 3}}, seeds=[0])
    runs = expand(validate(SweepSpec, spec))
    assert len(runs) == 3 * 2 * 4  # replicates x scenarios x editor grid points
    by_rep: dict[str, set[tuple[int, int]]] = {}
    for r in runs:
        m = r.config["model"]
        by_rep.setdefault(r.labels["replicate"], set()).add((m["seed"], m["data_seed"]))
    assert by_rep == {"0": {(0, 0)}, "1": {(1, 1)}, "2": {(2, 2)}}
    assert len({r.run_id for r in runs}) == len(runs)
    one = expand(validate(SweepSpec, toy_spec_dict(seeds=[0])))
    # replicate 0 is the recipe itself: the same runs as a sweep without replicates
    assert {r.run_id for r in one} == {r.run_id for r in runs if r.labels["replicate"] == "0"}


def test_replicates_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="replicates"):
        validate(SweepSpec, toy_spec_dict(models={"m": {"preset": "tiny", "replicates": 0}}))


def _short_model() -> dict[str, Any]:
    return {
        "preset": "tiny",
        "replicates": 2,
        "set": {
            "train": {
                "max_tokens": 200_000,
                "warmup_steps": 10,
                "target_accuracy": None,
                "eval_every": 1000,
            }
        },
    }


@pytest.mark.slow
def test_a_sweep_trains_each_replicate_once_and_names_it(tmp_path: Path) -> None:
    import pandas as pd

    from behemoth.results import load

    spec = toy_spec_dict(
        models={"m": _short_model()},
        scenarios={"3 different": {"name": "k-different", "settings": {"k": 3}}},
        # fine-tuning: a barely trained model makes ROME's solve write an update far above the
        # layer's norm, which is refused (editors/locate/solve.py); replicates are the point here
        editors={"ft": {"name": "ft", "settings": {"steps": 5}}},
        seeds=[0],
    )
    out = tmp_path / "sweep"
    res = run_sweep(validate(SweepSpec, spec), out, backend=LocalBackend(0), progress=False)
    assert res.failed == 0 and res.done == 2
    metas = [
        json.loads((d / "behemoth_model.json").read_text())
        for d in sorted((out / "shared" / "models").iterdir())
        if (d / "behemoth_model.json").is_file()
    ]
    assert sorted((m["config"]["seed"], m["config"]["data_seed"]) for m in metas) == [
        (0, 0),
        (1, 1),
    ]
    rows = load(out)
    assert set(rows["replicate"]) == {0, 1}
    items = load(out, "items")
    assert {"replicate", "run_id", "edits_applied", "edit", "value"} <= set(items.columns)
    # every aggregate row of an edit split is its items' mean
    if "phase" in items.columns:
        items = items[items["phase"] == "post"]
    post = rows[(rows["phase"] == "post") & rows["metric"].isin(["efficacy", "specificity"])]
    assert len(post) == 2 * 6  # per replicate: efficacy on sro, specificity on five splits
    for _, r in post.iterrows():
        it = items[
            (items["run_id"] == r["run_id"])
            & (items["metric"] == r["metric"])
            & (items["split"] == r["split"])
            & (items["group"] == r["group"])
        ]
        assert len(it) == r["n"]
        assert np.isclose(it["value"].mean(), r["value"])
    assert isinstance(rows, pd.DataFrame)
