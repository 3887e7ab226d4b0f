"""Reports over trained replicates: every number over models, k of n, comparisons, sign flips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from behemoth.report import summary_text, write_report
from behemoth.report.compare import editor_comparisons
from behemoth.report.data import load_rows
from behemoth.report.html import summary_tables
from behemoth.report.plots import Curve, plot_sequential, sequential_data
from tests.report.replicate_rows import (
    KEPT,
    N_EDITS,
    SUCCESS,
    UNEDITED,
    replicate_rows,
    row,
    write_results,
)


def _t_cell(values: tuple[float, ...], n_items: int) -> str:
    """The expected cell, computed with scipy directly: mean, t-interval over models clipped
    to [0, 1], SD (ddof 1)."""
    v = np.asarray(values)
    m, sd = v.mean(), v.std(ddof=1)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=m, scale=sd / math.sqrt(len(v)))
    lo, hi = max(lo, 0.0), min(hi, 1.0)
    return f"{m:.3f} [{lo:.3f}, {hi:.3f}] sd {sd:.3f} ({len(v)} models, n={n_items})"


def _cell(tables: list, title_part: str, editor: str, split: str) -> str:
    t = next(t for t in tables if title_part in t.title)
    line = next(b for b in t.body if b[t.head.index("editor")] == editor)
    return str(line[t.head.index(split)])


def test_cell_is_the_mean_over_five_models_with_t_interval_sd_and_k_of_n() -> None:
    tables = summary_tables(replicate_rows())
    cell = _cell(tables, "edit success (efficacy)", "rome", "sro")
    assert cell.startswith("0.760 [")  # the mean over models of 0.8/0.7/1.0/0.4/0.9
    assert cell.startswith(_t_cell(SUCCESS["rome"], 5 * N_EDITS))
    assert cell.endswith("success >= 0.9 holds on 2 of 5 models")  # 1.0 and 0.9 (>=)
    # not pooled items: the old report gave 38/50 with a Wilson interval [0.626, 0.857]
    assert "[0.626, 0.857]" not in cell
    kept = _cell(tables, "specificity", "rome", "same_relation")
    # kept >= unedited - 0.05 per model: 0.90/0.92, 0.88/0.90, 0.97/0.97, 0.60/0.85 (no), 0.93/0.94
    assert kept.endswith("kept >= unedited - 0.05 holds on 4 of 5 models")
    assert _cell(tables, "specificity", "ft", "same_relation").endswith("holds on 0 of 5 models")


def test_comparison_flags_a_sign_that_differs_between_models() -> None:
    comps = editor_comparisons(replicate_rows())
    eff = next(c for c in comps if c.metric == "efficacy")
    # paired ft - rome per model: -0.2, +0.2, -0.5, +0.2, -0.2: the sign differs
    assert (eff.a, eff.b) == ("ft", "rome") and eff.flagged
    d = np.subtract(SUCCESS["ft"], SUCCESS["rome"])
    assert eff.result.diff.value == pytest.approx(d.mean())
    assert eff.result.wins == 2 and eff.result.n_models == 5
    assert eff.sign_text() == "ft > rome on 2 of 5 models, ft < rome on 3"
    kept = next(c for c in comps if c.metric == "specificity")
    # ft keeps less than rome on 4 models, more on replicate 3 (where rome drops to 0.60)
    assert kept.flagged and kept.sign_text() == "ft > rome on 1 of 5 models, ft < rome on 4"
    assert kept.p_beats[0] == pytest.approx(
        stats.mannwhitneyu(KEPT["ft"], KEPT["rome"]).statistic / 25
    )
    assert comps[0].flagged  # flagged first


def test_forgetting_comparison_lower_beats() -> None:
    rows = [
        row(ed, i, "forget_accuracy", "forgetting", "forgotten", v, 30)
        for ed, vals in (("ga", (0.1, 0.2, 0.1)), ("npo", (0.5, 0.6, 0.4)))
        for i, v in enumerate(vals)
    ]
    (c,) = editor_comparisons(rows)
    assert (c.a, c.b) == ("ga", "npo") and c.p_beats[0] == 1.0  # ga forgets more on every model
    assert c.result.diff.value == pytest.approx(-0.3666666, abs=1e-6)


def test_flagged_findings_in_report_and_printed_summary(tmp_path: Path) -> None:
    src = write_results(replicate_rows(), tmp_path / "sweep")
    rep = write_report(src)
    html = rep.path.read_text()
    assert "Findings that differ between trained models" in html
    assert "sign differs: A &gt; B on 2 of 5 models, A &lt; B on 3" in html
    assert "P(A beats B on a new model)" in html
    text = summary_text(load_rows(src)[0])
    assert "on 2 trained model" not in text and "on 10 trained models" not in text
    assert "10 runs (0 failed) on 5 trained models" in text
    assert "FLAGGED" in text and "A = ft, B = rome: A - B = -0.100 [" in text
    assert "sign differs: A > B on 2 of 5 models, A < B on 3" in text
    assert "success >= 0.9 on 2 of 5" in text
    assert len(text.splitlines()) <= 40


def test_table_without_replicate_column_is_one_model(tmp_path: Path) -> None:
    rows = [
        row("rome", None, "efficacy", "efficacy", "sro", 0.8, 10, ci_low=0.49, ci_high=0.94),
        row("rome", None, "specificity", "specificity", "same_relation", 0.9, 50),
    ]
    assert all("replicate" not in r for r in rows)
    src = write_results(rows, tmp_path / "old")
    loaded, _ = load_rows(src)
    assert {r["replicate"] for r in loaded} == {0}
    tables = summary_tables(loaded)
    # one model: the run's own within-run interval, "1 model"
    assert _cell(tables, "efficacy", "rome", "sro") == (
        "0.800 [0.490, 0.940] (1 model, n=10)"  # no "holds on k of 1": one model is no count
    )
    # a row without an interval: Wilson over its (independent) items
    from behemoth.intervals import wilson

    lo, hi = wilson(45, 50)
    assert _cell(tables, "specificity", "rome", "same_relation").startswith(
        f"0.900 [{lo:.3f}, {hi:.3f}] (1 model, n=50)"
    )
    rep = write_report(src)
    assert "(1 model, n=10)" in rep.path.read_text()
    assert "1 runs (0 failed) on 1 trained model" in summary_text(loaded)


def test_seeds_within_a_model_are_averaged_before_models() -> None:
    """Two edit seeds of one model are one model's value (items averaged), not two models."""
    rows = [
        row("rome", 0, "efficacy", "efficacy", "sro", 0.6, 10, run_id="a0", seed=0),
        row("rome", 0, "efficacy", "efficacy", "sro", 1.0, 10, run_id="a1", seed=1),
        row("rome", 1, "efficacy", "efficacy", "sro", 0.5, 10, run_id="b0", seed=0),
    ]
    cell = _cell(summary_tables(rows), "efficacy", "rome", "sro")
    assert cell.startswith(_t_cell((0.8, 0.5), 30))


def test_failed_runs_name_their_model(tmp_path: Path) -> None:
    rows = replicate_rows()
    rows.append(
        row(
            "memit", 3, "run_failed", "run", "all", 0.0, 0, status="failed", error="ill-conditioned"
        )
    )
    rep = write_report(write_results(rows, tmp_path / "s"))
    html = rep.path.read_text()
    assert rep.failed == 1 and "w | tiny | replicate 3" in html
    assert "w | tiny | replicate 3 | 10 different | memit: ill-conditioned" in summary_text(rows)


def _stream_rows() -> list[dict]:
    rows = []
    for rep in range(3):
        for c in (5, 10, 15):
            rows.append(
                row(
                    "rome",
                    rep,
                    "efficacy",
                    "efficacy",
                    "sro",
                    1 - c / 30 - rep / 10,
                    c,
                    checkpoint=c,
                    run_id=f"s{rep}",
                )
            )
            rows.append(
                row(
                    "rome",
                    rep,
                    "specificity",
                    "specificity",
                    "same_relation",
                    0.9 - c / 50,
                    50,
                    checkpoint=c,
                    run_id=f"s{rep}",
                )
            )
        rows.append(
            row(
                "rome",
                rep,
                "efficacy",
                "efficacy",
                "sro",
                0.0,
                15,
                checkpoint=5,
                run_id=f"s{rep}",
                phase="pre",
            )
        )
        rows.append(
            row(
                "rome",
                rep,
                "specificity",
                "specificity",
                "same_relation",
                UNEDITED[rep],
                50,
                checkpoint=5,
                run_id=f"s{rep}",
                phase="pre",
            )
        )
    return rows


def test_sequential_starts_at_the_unedited_model_and_tells_replicates_apart() -> None:
    (curves,) = sequential_data(_stream_rows()).values()
    assert [c.checkpoints for c in curves] == [[0, 5, 10, 15]] * 3  # the pre-edit point at 0
    assert [c.world_accuracy[0] for c in curves] == list(UNEDITED[:3])
    assert sorted(c.unit[2] for c in curves) == [0, 1, 2]
    fig = plot_sequential(curves, "stream | w | tiny")
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert "rome (mean of 3 models)" in names and "one trained model rN (faint)" in names
    assert "95% interval over models" in names
    notes = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"r0", "r1", "r2"} <= notes  # each replicate's line is labelled
    assert min(fig.axes[0].get_lines()[0].get_xdata()) == 0


def test_sequential_legend_names_every_series() -> None:
    curves = [
        Curve("rome", 0, [0, 5, 10], [0, 1, 0.5], [0.9, 0.8, 0.3], [10], 10, ("w", "m", 0)),
        Curve("memit", 0, [0, 5, 10], [0, 1, 1], [0.9, 0.9, 0.9], [], None, ("w", "m", 0)),
    ]
    fig = plot_sequential(curves, "t")
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["memit (1 model)", "rome (1 model)", "disabling edit", "collapse"]


def test_rank_plot_labels_every_series_and_hides_none() -> None:
    """Issue 23: the legend listed only "rome"; LoRA rank 1 hid under ROME at 2^0."""
    from behemoth.report.plots import plot_rank, rank_data

    rows = []
    for ed, name, rank in (
        ("rome", "rome", 1.0),
        ("lora rank=1", "lora", 1.0),
        ("lora rank=4", "lora", 4.0),
    ):
        for i in range(3):
            rows.append(row(ed, i, "efficacy", "efficacy", "sro", 0.9 - i / 10, 10, editor=name))
            rows.append(row(ed, i, "update_rank", "cost", "all", rank, 1, editor=name))
    data = rank_data(rows)
    fig = plot_rank(data)
    names = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert names == [
        "lora rank=1 (3 models)",
        "lora rank=4 (3 models)",
        "rome (3 models)",
        "one trained model (faint)",
    ]
    ax = fig.axes[0]
    xs = [c.get_offsets()[0][0] for c in ax.collections if len(c.get_offsets())]
    at_one = sorted({round(float(x), 4) for x in xs if 0 < x < 1.5})
    assert len(at_one) == 2 and at_one[0] < 1 < at_one[1]  # rome and lora rank 1 side by side
