"""The HTML report: every plot the table has data for, embedded and saved; pure (no torch)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from behemoth.errors import BehemothError
from behemoth.report import write_report
from behemoth.report.plots import rank_data, sequential_data

ROOT = Path(__file__).resolve().parents[2]
PLOTS = {"rank", "heatmaps", "sequential-0", "unlearning"}


def test_summary_table_cells_show_interval_and_n() -> None:
    """Two edit seeds of one trained model: one model's value (their items averaged), shown
    with its within-run interval (the rows' own intervals combined) and "1 model"."""
    from behemoth.report.html import summary_tables

    rows = [
        {
            "run_id": rid,
            "status": "ok",
            "label_scenario": "k-different",
            "label_editor": "rome",
            "seed": seed,
            "metric": "efficacy",
            "group": "efficacy",
            "split": "sro",
            "checkpoint": 1,
            "phase": "post",
            "value": value,
            "n": 10,
            "ci_low": value - 0.2,
            "ci_high": min(value + 0.1, 1.0),
        }
        for rid, seed, value in (("a", 0, 0.9), ("b", 1, 0.7))
    ]
    (t,) = summary_tables(rows)
    head, body = t.head, t.body
    cell = body[0][head.index("sro")]
    # half-widths 0.15 each, weights 1/2: se = sqrt(2 (0.5 * 0.15 / z)^2)
    half = math.sqrt(2) * 0.5 * 0.15
    assert cell == (f"0.800 [{0.8 - half:.3f}, {0.8 + half:.3f}] (1 model, n=20)")
    assert body[0][head.index("runs")] == "2"


@pytest.mark.slow
def test_report_has_every_plot(full_sweep: Path, tmp_path: Path) -> None:
    rep = write_report(full_sweep, tmp_path / "r")
    html = rep.path.read_text()
    ids = set(re.findall(r'<figure class="plot" id="([^"]+)"', html))
    assert ids == PLOTS
    assert {p.stem for p in rep.plots} == PLOTS and all(p.stat().st_size > 1000 for p in rep.plots)
    assert rep.failed == 2 and "poison" in html  # the failed runs are listed
    assert "http://" not in html and "https://" not in html  # self-contained
    # the summary table has intervals
    assert re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", html)


def test_plots_drawn_only_with_data(full_sweep: Path, tmp_path: Path) -> None:
    rows = [
        r
        for r in pq.read_table(full_sweep / "results.parquet").to_pylist()
        if r["label_scenario"] == "single"
    ]
    assert rank_data(rows) and not sequential_data(rows)
    src = tmp_path / "single"
    src.mkdir()
    table = pq.read_table(full_sweep / "results.parquet")
    pq.write_table(
        table.filter(pc.equal(table["label_scenario"], "single")), src / "results.parquet"
    )
    rep = write_report(src)
    assert {p.stem for p in rep.plots} == {"rank", "heatmaps"}


def test_sequential_marks_disabling_and_collapse(full_sweep: Path) -> None:
    rows = pq.read_table(full_sweep / "results.parquet").to_pylist()
    curves = [c for cs in sequential_data(rows).values() for c in cs]
    assert curves and all(c.checkpoints == [0, 3, 6, 9, 12] for c in curves)  # 0: unedited
    assert all(c.disabling == [11] for c in curves)  # the toy's update-norm jump


def test_report_never_imports_torch(full_sweep: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from behemoth.report import write_report; "
        f"write_report({str(full_sweep)!r}, {str(tmp_path / 'r')!r}); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_bad_source(tmp_path: Path) -> None:
    with pytest.raises(BehemothError, match="SWEEP_OR_RUN"):
        write_report(tmp_path)


def test_heatmaps_skip_a_split_the_scenario_lacks() -> None:
    from behemoth.report.plots import heatmap_data

    def row(rid: str, layer: int, metric: str, group: str, split: str) -> dict[str, object]:
        cfg = json.dumps({"editor": {"settings": {"layer": layer}}})
        return {
            "run_id": rid,
            "status": "ok",
            "label_scenario": "s",
            "label_world": "w",
            "label_editor": rid,
            "editor": "rome",
            "config": cfg,
            "metric": metric,
            "group": group,
            "split": split,
            "checkpoint": 1,
            "phase": "post",
            "value": 1.0,
            "n": 4,
        }

    rows = [row(f"r{la}", la, "efficacy", "efficacy", "sro") for la in (0, 1)]
    rows += [row(f"r{la}", la, "specificity", "specificity", "same_subject") for la in (0, 1)]
    titles = [h.title for h in heatmap_data(rows)]
    assert any("edit success" in t for t in titles)
    assert any("same_subject" in t for t in titles)
    assert not any("same_relation" in t for t in titles)  # no rows of it: no empty map


def test_oracle_table_lists_each_run_with_its_own_interval() -> None:
    """p-values and AUCs are not pooled: one line per run (seeds apart), each value as its row
    gives it, with that row's interval; a metric a run lacks is a dash."""
    from behemoth.report.html import oracle_table

    def row(rid: str, seed: int, metric: str, split: str, value: float, ci: bool) -> dict:
        return {
            "run_id": rid,
            "status": "ok",
            "label_scenario": "forget",
            "label_world": "w",
            "label_editor": "npo",
            "seed": seed,
            "metric": metric,
            "group": "unlearning",
            "split": split,
            "checkpoint": 30,
            "phase": "post",
            "value": value,
            "n": 30,
            "ci_low": 0.4 if ci else None,
            "ci_high": 0.6 if ci else None,
        }

    rows = [
        row("a", 0, "forget_quality", "forgotten", 0.239, False),
        row("a", 0, "auc", "loss", 0.5, True),
        row("b", 1, "forget_quality", "forgotten", 0.0346, False),
    ]
    head, body = oracle_table(rows)
    assert [b[3] for b in body] == ["0", "1"]  # one line per seed, not pooled
    fq, auc = head.index("forget quality (KS p)"), head.index("MIA AUC (loss)")
    assert body[0][fq] == "0.239 n=30" and body[1][fq] == "0.0346 n=30"
    assert body[0][auc] == "0.5 [0.4, 0.6] n=30" and body[1][auc] == "-"
    assert oracle_table([{**rows[0], "group": "forgetting"}]) == (head, [])
