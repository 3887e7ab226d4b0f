"""Exposure analysis (issue 25) on hand-made frames with known bins, crossings and intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from behemoth.analysis import exposure as ex
from behemoth.errors import ConfigError


def _facts(acc_by_exposure: dict[int, list[float]], n: int = 10) -> pd.DataFrame:
    """Per replicate r: n facts at each exposure e, the first round(acc*n) correct."""
    rows = []
    for e, accs in acc_by_exposure.items():
        for r, acc in enumerate(accs):
            k = round(acc * n)
            for i in range(n):
                rows.append(
                    {
                        "replicate": r,
                        "fact": e * 100 + i,
                        "exposure": e,
                        "correct": i < k,
                        "loss": float(e),
                    }
                )
    return pd.DataFrame(rows)


def test_bins_are_powers_of_the_base_and_zero_apart():
    b = ex.exposure_bins(np.array([0, 1, 2, 3, 4, 7, 8, 1000]))
    assert b.tolist() == [-1, 0, 1, 1, 2, 2, 3, 9]
    assert ex.exposure_bins(np.array([9, 10, 99, 100]), base=10).tolist() == [0, 1, 1, 2]
    with pytest.raises(ConfigError, match="exposure"):
        ex.exposure_bins(np.array([-1]))
    with pytest.raises(ConfigError, match="base"):
        ex.exposure_bins(np.array([1]), base=1)


def test_learning_curves_accuracy_and_loss_per_bin():
    facts = _facts({1: [0.0, 0.2], 4: [0.6, 0.4], 16: [1.0, 1.0]})
    curves = ex.learning_curves(facts)
    r0 = curves[curves["replicate"] == 0].set_index("bin")
    assert r0.loc[0, "accuracy"] == 0.0 and r0.loc[2, "accuracy"] == pytest.approx(0.6)
    assert r0.loc[4, "accuracy"] == 1.0
    assert r0.loc[2, "loss"] == 4.0 and r0.loc[2, "n"] == 10
    assert r0.loc[2, "position"] == pytest.approx(4.0)
    # other columns are ignored; ``by`` gives each value its own curves
    extra = facts.assign(subject=facts["fact"] % 7, world="zipf")
    assert ex.learning_curves(extra).equals(curves)
    two = pd.concat([extra, extra.assign(world="uniform", correct=False)])
    by = ex.learning_curves(two, by=["world"]).set_index(["world", "replicate", "bin"])
    assert by.loc[("uniform", 0, 2), "accuracy"] == 0.0
    assert by.loc[("zipf", 0, 2), "accuracy"] == pytest.approx(0.6)
    with pytest.raises(ConfigError, match="world"):
        ex.learning_curves(facts, by=["world"])


def test_crossing_interpolates_in_log_exposure():
    # accuracy 0.0 at 1, 0.6 at 4, 1.0 at 16: 50% is 5/6 of the way from log 1 to log 4
    c = ex.crossing([1, 4, 16], [0.0, 0.6, 1.0], 0.5)
    assert c.status == ex.REACHED
    assert c.exposure == pytest.approx(math.exp(5 / 6 * math.log(4)))
    c99 = ex.crossing([1, 4, 16], [0.0, 0.6, 1.0], 0.99)
    assert c99.exposure == pytest.approx(math.exp(math.log(4) + 0.39 / 0.4 * math.log(4)))


def test_crossing_states_below_and_not_reached_without_numbers():
    below = ex.crossing([2, 8], [0.7, 0.9], 0.5)
    assert below.status == ex.BELOW and math.isnan(below.exposure)
    never = ex.crossing([2, 8], [0.1, 0.3], 0.5)
    assert never.status == ex.NOT_REACHED and math.isnan(never.exposure)
    # first crossing, not a later one after a dip; unsorted input is sorted by position
    first = ex.crossing([16, 1, 4], [0.2, 0.0, 0.5], 0.5)
    assert first.exposure == pytest.approx(4.0)


def test_crossing_summary_over_replicates_matches_scipy_t():
    facts = _facts({1: [0.0, 0.2, 0.0, 0.6], 4: [0.6, 0.4, 1.0, 0.9], 16: [1.0, 1.0, 1.0, 1.0]})
    table = ex.crossings(ex.learning_curves(facts))
    s50 = table[table["level"] == 0.5].set_index("replicate")
    assert s50.loc[3, "status"] == ex.BELOW
    summary = ex.crossing_summary(table).set_index("level")
    row = summary.loc[0.5]
    assert (row["reached"], row["below"], row["n"]) == (3, 1, 4)
    logs = np.log10(s50.loc[[0, 1, 2], "exposure"].to_numpy())
    lo, hi = stats.t.interval(0.95, 2, loc=logs.mean(), scale=logs.std(ddof=1) / math.sqrt(3))
    assert row["exposure"] == pytest.approx(10 ** logs.mean())
    assert (row["lo"], row["hi"]) == (pytest.approx(10**lo), pytest.approx(10**hi))
    # 99%: replicate 1 reaches 1.0 at 16 from 0.4 at 4, all four reach it
    assert summary.loc[0.99, "reached"] == 4


def test_across_replicates_per_bin_matches_scipy_t():
    facts = _facts({2: [0.1, 0.3, 0.5], 8: [0.9, 0.8, 1.0]})
    curves = ex.learning_curves(facts)
    table = ex.across_replicates(curves, "accuracy").set_index("bin")
    v = np.array([0.1, 0.3, 0.5])
    lo, hi = stats.t.interval(0.95, 2, loc=v.mean(), scale=v.std(ddof=1) / math.sqrt(3))
    assert table.loc[1, "mean"] == pytest.approx(0.3)
    assert table.loc[1, "ci_low"] == pytest.approx(max(lo, 0.0))
    assert table.loc[1, "ci_high"] == pytest.approx(hi)
    assert table.loc[1, "n_models"] == 3 and table.loc[1, "n_items"] == 30


def _items() -> pd.DataFrame:
    rows = []
    for r in range(3):
        for e, eff in ((1, 0.2), (3, 0.5), (40, 0.9)):
            for i in range(4):
                for metric, value in (("efficacy", eff + 0.02 * r), ("specificity", 1 - eff)):
                    rows.append(
                        {
                            "metric": metric,
                            "split": "s",
                            "phase": "post",
                            "replicate": r,
                            "exposure": e,
                            "value": value,
                            "label_editor": "rome",
                            "edit": i,
                        }
                    )
        rows.append(
            {
                "metric": "efficacy",
                "split": "s",
                "phase": "pre",
                "replicate": r,
                "exposure": 1,
                "value": 0.0,
                "label_editor": "rome",
                "edit": 0,
            }
        )
        rows.append(
            {
                "metric": "efficacy",
                "split": "s",
                "phase": "post",
                "replicate": r,
                "exposure": None,
                "value": 5.0,
                "label_editor": "rome",
                "edit": 0,
            }
        )
    return pd.DataFrame(rows)


def test_metric_curves_from_items_one_function_for_every_metric():
    items = _items()
    eff = ex.metric_curves(items, "efficacy", by=["label_editor"])
    r1 = eff[eff["replicate"] == 1].set_index("bin")
    # pre rows and the item without a fact are left out
    assert r1.loc[0, "value"] == pytest.approx(0.22) and r1.loc[0, "n"] == 4
    assert r1.loc[5, "value"] == pytest.approx(0.92)
    spec = ex.metric_curves(items, "specificity", split="s")
    assert spec.set_index(["replicate", "bin"]).loc[(0, 1), "value"] == pytest.approx(0.5)
    summary = ex.across_replicates(eff, "value").set_index("bin")
    assert summary.loc[0, "mean"] == pytest.approx(0.22)
    assert summary.loc[0, "label_editor"] == "rome"
    cross = ex.crossings(eff, levels=[0.5], metric="value")
    assert set(cross["status"]) == {ex.REACHED}
    with pytest.raises(ConfigError, match="metric"):
        ex.metric_curves(items, "nope")
    with pytest.raises(ConfigError, match="lacks"):
        ex.metric_curves(items.drop(columns="exposure"), "efficacy")
