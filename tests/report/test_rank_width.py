"""The rank-vs-width analysis (issue 25) on a hand-made results table: the smallest rank reaching
the threshold per model, intervals over models as scipy.stats.t gives them, a width where no
rank reaches it, the damage at the needed rank, and the report's section."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from behemoth.errors import ConfigError
from behemoth.report.rank_width import (
    block_parameters,
    markdown_table,
    needed_table,
    plot_needed_rank,
    plot_rank_curves,
    rank_width_data,
    several_widths,
)

GEOMETRY = {64: (4, 256), 128: (6, 512)}  # width -> (layers, mlp)
#: (width, scenario) -> per replicate: rank -> edit success
SUCCESS: dict[tuple[int, str], list[dict[int, float]]] = {
    # first crossings at 2, 4 and 8 (replicate 0 dips after it: still 2)
    (64, "single"): [
        {1: 0.5, 2: 0.95, 4: 0.8, 8: 1.0},
        {1: 0.2, 2: 0.6, 4: 0.9, 8: 1.0},
        {1: 0.1, 2: 0.3, 4: 0.7, 8: 0.9},
    ],
    # no rank reaches 0.9 on any model
    (128, "single"): [{1: 0.1, 2: 0.3, 4: 0.5, 8: 0.89}] * 3,
    # two of three models reach it (at 1 and 8)
    (64, "10 different"): [
        {1: 0.9, 2: 0.9, 4: 1.0, 8: 1.0},
        {1: 0.0, 2: 0.1, 4: 0.2, 8: 0.3},
        {1: 0.4, 2: 0.5, 4: 0.6, 8: 0.95},
    ],
    (128, "10 different"): [{1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}] * 3,
}
#: accuracy on same_relation before editing, and the drop at rank r: r / 100
UNEDITED = 0.95


def _config(width: int, editor: dict[str, Any]) -> str:
    layers, mlp = GEOMETRY[width]
    return json.dumps(
        {
            "world": {"subjects": 300, "relations": 4},
            "model": {"model": {"layers": layers, "width": width, "mlp": mlp}},
            "editor": editor,
        }
    )


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(rid: str, width: int, scen: str, rep: int, ed: str, cfg: dict[str, Any], **kw: Any):
        base = {
            "run_id": rid,
            "status": "ok",
            "label_world": "small",
            "label_model": f"w{width}",
            "label_scenario": scen,
            "label_editor": ed,
            "editor": cfg["name"],
            "replicate": rep,
            "seed": 0,
            "config": _config(width, cfg),
            "checkpoint": 1,
            "n": 10,
            "ci_low": None,
            "ci_high": None,
        }
        rows.append({**base, **kw})

    for (width, scen), reps in SUCCESS.items():
        for rep, by_rank in enumerate(reps):
            for rank, value in by_rank.items():
                rid = f"lora-{width}-{scen}-{rep}-{rank}"
                cfg = {"name": "lora", "settings": {"rank": rank, "targets": ["mlp_out"]}}
                ed = f"lora rank={rank}"
                add(
                    rid,
                    width,
                    scen,
                    rep,
                    ed,
                    cfg,
                    metric="efficacy",
                    group="efficacy",
                    split="sro",
                    phase="post",
                    value=value,
                )
                for phase, acc in (("pre", UNEDITED), ("post", UNEDITED - rank / 100)):
                    add(
                        rid,
                        width,
                        scen,
                        rep,
                        ed,
                        cfg,
                        metric="specificity",
                        group="specificity",
                        split="same_relation",
                        phase=phase,
                        value=acc,
                        n=100,
                    )
            rid = f"ft-{width}-{scen}-{rep}"
            cfg = {"name": "ft", "settings": {"part": "all", "layers": None}}
            add(
                rid,
                width,
                scen,
                rep,
                "ft",
                cfg,
                metric="efficacy",
                group="efficacy",
                split="sro",
                phase="post",
                value=1.0 - rep / 10,
            )
    return rows


def _find(data: Any, width: int, scen: str) -> Any:
    return next(n for n in data.needed if n.line.width == width and n.scenario == scen)


def test_smallest_rank_per_model_and_t_interval() -> None:
    data = rank_width_data(_rows())
    nr = _find(data, 64, "single")
    assert list(nr.per_model.values()) == [2, 4, 8]
    x = np.array([2.0, 4.0, 8.0])
    lo, hi = stats.t.interval(0.95, 2, loc=x.mean(), scale=x.std(ddof=1) / math.sqrt(3))
    assert nr.rank.value == pytest.approx(14 / 3)
    assert nr.rank.sd == pytest.approx(x.std(ddof=1))
    assert (nr.rank.lo, nr.rank.hi) == pytest.approx((max(lo, 1.0), min(hi, 64.0)))
    assert (nr.k, nr.n) == (3, 3)
    # damage at each model's own rank: drops 0.02, 0.04, 0.08
    d = np.array([0.02, 0.04, 0.08])
    dlo, dhi = stats.t.interval(0.95, 2, loc=d.mean(), scale=d.std(ddof=1) / math.sqrt(3))
    dmg = nr.damage["same_relation"]
    assert dmg.value == pytest.approx(d.mean())
    assert (dmg.lo, dmg.hi) == pytest.approx((dlo, dhi))
    # full fine-tuning beside it: 1.0, 0.9, 0.8 over the replicates
    assert nr.full.value == pytest.approx(0.9) and nr.full.n_models == 3


def test_threshold_is_a_parameter() -> None:
    nr = _find(rank_width_data(_rows(), threshold=0.5), 64, "single")
    assert list(nr.per_model.values()) == [1, 2, 4]
    with pytest.raises(ConfigError, match="threshold"):
        rank_width_data(_rows(), threshold=1.5)


def test_width_where_no_rank_reaches_says_so() -> None:
    data = rank_width_data(_rows())
    nr = _find(data, 128, "single")
    assert nr.k == 0 and all(r is None for r in nr.per_model.values())
    assert math.isnan(nr.rank.value)
    assert nr.text() == "no rank up to 8 reaches 0.9 (0 of 3 models)"
    head, body = needed_table(data)
    row = next(r for r in body if r[0] == "single" and r[3] == "128")
    assert row[head.index(next(h for h in head if h.startswith("needed rank:")))] == nr.text()
    assert "no rank up to 8 reaches 0.9" in markdown_table(data)


def test_some_models_never_reach_it() -> None:
    nr = _find(rank_width_data(_rows()), 64, "10 different")
    assert list(nr.per_model.values()) == [1, None, 8]
    assert (nr.k, nr.n) == (2, 3)
    assert nr.rank.value == pytest.approx(4.5) and nr.rank.n_models == 2
    assert "reaches on 2 of 3 models" in nr.text()


def test_load_and_lines() -> None:
    data = rank_width_data(_rows())
    assert data.widths == [64, 128] and several_widths(data)
    line = _find(data, 64, "single").line
    assert line.facts == 1200 and line.params == block_parameters(
        {"layers": 4, "width": 64, "mlp": 256}
    )
    assert block_parameters({"layers": 4, "width": 64, "mlp": 256}) == 200_064
    assert block_parameters({"layers": 6, "width": 256, "mlp": 1024}) == 4_739_072
    assert line.load == pytest.approx(1200 / 200_064)
    one = rank_width_data([r for r in _rows() if '"width": 64' in r["config"]])
    assert not several_widths(one)


def test_dataframe_equals_rows() -> None:
    rows = _rows()
    a = needed_table(rank_width_data(rows))
    b = needed_table(rank_width_data(pd.DataFrame(rows)))
    assert a == b


def test_plots_have_a_panel_per_scenario() -> None:
    import matplotlib.pyplot as plt

    data = rank_width_data(_rows())
    fig = plot_rank_curves(data)
    titles = sorted(ax.get_title() for ax in fig.axes)
    assert titles == ["10 different", "single"]
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    plt.close(fig)
    fig = plot_needed_rank(data)
    assert len(fig.axes) == 4
    plt.close(fig)


def test_report_has_the_section(tmp_path: Path) -> None:
    from behemoth.report import write_report

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    pq.write_table(pa.Table.from_pylist(_rows()), sweep / "results.parquet")
    rep = write_report(sweep)
    page = rep.path.read_text()
    assert 'id="rank-width"' in page and 'id="rank-load"' in page
    assert "no rank up to 8 reaches 0.9" in page
    # one width only: no section
    one = tmp_path / "one"
    one.mkdir()
    rows = [r for r in _rows() if '"width": 64' in r["config"]]
    pq.write_table(pa.Table.from_pylist(rows), one / "results.parquet")
    assert 'id="rank-width"' not in write_report(one).path.read_text()


def test_main_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from behemoth.report.rank_width import main

    pq.write_table(pa.Table.from_pylist(_rows()), tmp_path / "results.parquet")
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n| single |") == 2 and "no rank up to 8 reaches 0.9" in out
    assert main([str(tmp_path), "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "THRESHOLD" in err
    assert main([str(tmp_path / "none")]) == 2
