"""The exposure study's editing analyses (issue 25) on hand-made items with known answers: the
LoRA rank an edit needs, the fine-tuning steps it needs, retention in a stream, bands."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from behemoth.analysis import exposure as ex
from behemoth.errors import ConfigError

RANKS = (1, 4, 16)
# (replicate, scenario) -> per edit: (subject, exposure, taken at rank 1, 4, 16)
TAKES = {
    (0, "single rare"): [(5, 2, (1, 1, 1))],
    (1, "single rare"): [(5, 2, (0, 0, 1))],
    (0, "10 different rare"): [(7, 3, (0, 1, 0)), (9, 40, (0, 0, 0))],
    (1, "10 different rare"): [(7, 3, (0, 0, 1)), (9, 40, (1, 1, 1))],
}


def _item(**kw: object) -> dict[str, object]:
    base = {
        "label_world": "zipf",
        "label_model": "tiny",
        "seed": 0,
        "metric": "efficacy",
        "group": "efficacy",
        "split": "sro",
        "phase": "post",
        "relation": 0,
    }
    return {**base, **kw}


def _lora_items() -> pd.DataFrame:
    rows = []
    for (rep, scen), edits in TAKES.items():
        for i, r in enumerate(RANKS):
            run = f"lora-{scen[:2]}{rep}{r}"
            n = len(edits)
            for e, (subj, expo, took) in enumerate(edits):
                common = {
                    "run_id": run,
                    "label_scenario": scen,
                    "replicate": rep,
                    "rank": r,
                    "edit": e,
                    "subject": subj,
                    "exposure": expo,
                    "edits_applied": n,
                }
                rows.append(_item(**common, value=float(took[i])))
                # the unedited model's item and another metric's item are not the edit's success
                rows.append(_item(**common, phase="pre", value=1.0))
                rows.append(_item(**common, metric="specificity", group="specificity", value=1.0))
    return pd.DataFrame(rows)


BY = ["label_world", "label_model", "label_scenario", "seed"]


def test_rank_needed_is_the_smallest_rank_per_fact_on_each_model():
    needed = ex.rank_needed(_lora_items(), by=BY)
    got = needed.set_index(["label_scenario", "replicate", "edit"])
    assert got.loc[("single rare", 0, 0), "rank_needed"] == 1
    # the same fact on another trained model needs rank 16: a minimum taken over replicates
    # (or over the scenario's runs of both models) would say 1
    assert got.loc[("single rare", 1, 0), "rank_needed"] == 16
    assert got.loc[("10 different rare", 0, 0), "rank_needed"] == 4
    assert not got.loc[("10 different rare", 0, 0), "monotone"]  # took at 4, not at 16
    assert got.loc[("10 different rare", 0, 1), "status"] == ex.NONE_IN_GRID
    assert math.isnan(got.loc[("10 different rare", 0, 1), "rank_needed"])
    assert got.loc[("10 different rare", 1, 1), "rank_needed"] == 1
    assert got.loc[("10 different rare", 1, 1), "monotone"]
    assert got.loc[("10 different rare", 1, 0), "exposure"] == 3
    assert set(needed["grid"]) == {"1,4,16"} and len(needed) == 6


def test_rank_needed_refuses_runs_of_different_edits_or_a_rank_run_twice():
    items = _lora_items()
    moved = items.copy()
    sel = (moved["replicate"] == 1) & (moved["rank"] == 4) & (moved["edit"] == 0)
    moved.loc[sel & (moved["label_scenario"] == "single rare"), "subject"] = 6
    with pytest.raises(ConfigError, match="different facts"):
        ex.rank_needed(moved, by=BY)
    # without the scenario in the grouping, one model's runs at a rank are two runs
    with pytest.raises(ConfigError, match="several runs at one rank"):
        ex.rank_needed(items, by=["label_world", "label_model", "seed"])
    with pytest.raises(ConfigError, match="lacks"):
        ex.rank_needed(items.drop(columns="rank"), by=BY)


def test_rank_curves_share_taking_per_rank_per_model_then_over_models():
    curves = ex.rank_curves(ex.rank_needed(_lora_items(), by=BY), by=["label_scenario"])
    c = curves.set_index(["label_scenario", "rank_at_most", "replicate", "bin"])["value"]
    # single rare, exposure 2 (bin 1): model 0 takes at 1, model 1 only at 16
    assert c[("single rare", 1, 0, 1)] == 1.0 and c[("single rare", 1, 1, 1)] == 0.0
    assert c[("single rare", 16, 1, 1)] == 1.0
    # 10 different, model 0, exposure 40 (bin 5): none within the grid counts as not taken
    assert c[("10 different rare", 16, 0, 5)] == 0.0
    table = ex.across_replicates(curves, "value").set_index(["label_scenario", "rank_at_most"])
    row = table.loc[("single rare", 1)]
    assert row["mean"] == pytest.approx(0.5) and row["n_models"] == 2
    assert table.loc[("single rare", 16), "mean"] == 1.0
    with pytest.raises(ConfigError, match="grids"):
        two = ex.rank_needed(_lora_items(), by=BY)
        ex.rank_curves(two.assign(grid=np.where(two["replicate"] == 0, "1,4,16", "1,16")))


def _ft() -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d"],
            "steps": [12, 20, 5, 50],
            "finished": [True, True, True, False],
            "label_world": "zipf",
            "label_scenario": ["single rare", "single rare", "single frequent", "single frequent"],
            "replicate": [0, 1, 0, 1],
        }
    )
    items = pd.DataFrame(
        [
            _item(run_id=r, edit=0, subject=s, exposure=e, value=v, edits_applied=1)
            for r, s, e, v in (("a", 1, 2, 1.0), ("b", 2, 8, 1.0), ("c", 3, 100, 1.0))
        ]
        + [_item(run_id="d", edit=0, subject=4, exposure=400, value=0.0, edits_applied=1)]
        + [_item(run_id="e", edit=e, subject=e, exposure=3, value=1.0) for e in range(2)]
    )
    return runs, items


def test_steps_needed_per_single_edit_run_with_the_edited_facts_exposure():
    runs, items = _ft()
    per = ex.steps_needed(runs, items).set_index("run_id")
    assert per.loc["a", "exposure"] == 2 and per.loc["a", "steps"] == 12
    assert math.isnan(per.loc["d", "steps"]) and not per.loc["d", "taken"]  # ran out of steps
    bands = ex.band_curves(per.reset_index(), "steps", by=["label_world"])
    b = bands.set_index(["label_scenario", "replicate"])
    assert b.loc[("single rare", 1), "value"] == 20
    assert b.loc[("single rare", 0), "position"] == pytest.approx(4.0)  # sqrt(2 * 8)
    assert (b.loc[("single rare", 0), "lo"], b.loc[("single rare", 0), "hi"]) == (2, 8)
    table = ex.across_replicates(bands, "value", bounds=None).set_index("label_scenario")
    assert table.loc["single rare", "mean"] == 16 and table.loc["single rare", "n_models"] == 2
    # the unfinished run is no count: one model's value
    assert (
        table.loc["single frequent", "mean"] == 5 and table.loc["single frequent", "n_models"] == 1
    )
    assert table.loc["single frequent", "bin"] > table.loc["single rare", "bin"]
    ten = pd.concat([runs, runs.iloc[:1].assign(run_id="e")])
    with pytest.raises(ConfigError, match="edits 2 facts"):
        ex.steps_needed(ten, items)
    with pytest.raises(ConfigError, match="no efficacy item of run z"):
        ex.steps_needed(pd.concat([runs, runs.iloc[:1].assign(run_id="z")]), items)


def _stream_items() -> pd.DataFrame:
    # edits 0..3 at exposures 1, 4, 4, 16; per replicate and checkpoint, retained or not
    expo = [1, 4, 4, 16]
    kept: dict[tuple[int, int], list[int | None]] = {
        (0, 2): [1, 1],
        (0, 4): [0, 1, 1, None],  # None: edit 3's two items, one answered: not retained
        (1, 2): [1, 0],
        (1, 4): [0, 0, 1, 0],
    }
    rows = []
    for (rep, at), vals in kept.items():
        for e, v in enumerate(vals):
            common = {
                "run_id": f"rome-{rep}",
                "label_editor": "rome",
                "label_scenario": "stream rare",
                "replicate": rep,
                "edits_applied": at,
                "edit": e,
                "subject": e,
                "exposure": expo[e],
            }
            if v is None:
                rows += [_item(**common, value=1.0), _item(**common, split="qa", value=0.0)]
            else:
                rows.append(_item(**common, value=float(v)))
        rows.append(_item(run_id=f"rome-{rep}", label_editor="rome", label_scenario="stream rare",
                          replicate=rep, edits_applied=0, edit=0, subject=0, exposure=1,
                          phase="pre", value=0.0))  # fmt: skip
    return pd.DataFrame(rows)


def test_retention_per_checkpoint_and_band_over_models():
    by = ["label_world", "label_editor", "label_scenario"]
    kept = ex.retention(_stream_items(), by=by)
    assert set(kept["edits_applied"]) == {2, 4}
    k = kept.set_index(["replicate", "edits_applied", "edit"])["retained"]
    assert k[(0, 4, 3)] == 0.0 and k[(0, 4, 2)] == 1.0
    bands = ex.band_curves(kept, "retained", by=["label_world", "label_editor", "edits_applied"])
    b = bands.set_index(["replicate", "edits_applied"])
    assert b.loc[(0, 2), "value"] == 1.0 and b.loc[(0, 4), "value"] == 0.5
    assert b.loc[(1, 4), "value"] == 0.25 and b.loc[(1, 4), "n"] == 4
    # the band's position: each fact once (1, 4, 4, 16 -> 4), not weighted by checkpoints
    assert b["position"].unique().tolist() == [pytest.approx(4.0)]
    table = ex.across_replicates(bands, "value").set_index("edits_applied")
    assert table.loc[4, "mean"] == pytest.approx(0.375) and table.loc[4, "n_models"] == 2
    early = _stream_items()
    early.loc[early.index[0], "edit"] = 5  # an edit not yet applied at checkpoint 2
    with pytest.raises(ConfigError, match="not yet applied"):
        ex.retention(early, by=by)
    with pytest.raises(ConfigError, match="no post-edit efficacy"):
        ex.retention(early[early["phase"] == "pre"], by=by)
