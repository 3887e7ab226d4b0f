"""``behemoth compare A B``: two runs or two sweeps side by side (issue 23)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from scipy import stats

from behemoth.cli.compare import compare_settings, load_side
from behemoth.cli.main import main


def _rows(values: dict[int, float], editor: str, **extra: Any) -> list[dict[str, Any]]:
    """Efficacy (post and pre) and a cost row per replicate: value per replicate."""
    out = []
    for rep, v in values.items():
        for phase, val in (("post", v), ("pre", 0.0)):
            out.append(
                {
                    "run": f"{editor}:m", "metric": "efficacy", "group": "efficacy",
                    "split": "sro", "phase": phase, "value": val, "n": 10,
                    "ci_low": max(0.0, val - 0.2), "ci_high": min(1.0, val + 0.2),
                    "interval": "wilson", "family": "accuracy", "seed": 0,
                    "replicate": rep, "edits_applied": 10 if phase == "post" else 0,
                    "batches_applied": 1, "scenario": "k-different", "editor": editor,
                    **extra,
                }
            )  # fmt: skip
    return out


def _run_dir(tmp: Path, name: str, values: dict[int, float], editor: str) -> Path:
    d = tmp / name
    d.mkdir()
    pq.write_table(pa.Table.from_pylist(_rows(values, editor)), d / "records.parquet")
    cfg = {"model": "/m/tiny", "world": None, "scenario": "k-different", "editor": editor}
    (d / "experiment.yaml").write_text(yaml.safe_dump(cfg))
    return d


def test_two_runs_on_the_same_models_are_paired_over_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_vals = {0: 0.5, 1: 0.6, 2: 0.4}
    b_vals = {0: 0.8, 1: 0.7, 2: 0.9}
    a = _run_dir(tmp_path, "a", a_vals, "rome")
    b = _run_dir(tmp_path, "b", b_vals, "memit")
    sa, sb = load_side(a), load_side(b)
    assert len(sa.info) == 3  # one run id per trained model
    (ka,), (kb,) = sa.settings, sb.settings
    (line,) = compare_settings(sa, ka, sb, kb)
    d = np.array(list(b_vals.values())) - np.array(list(a_vals.values()))
    lo, hi = stats.t.interval(0.95, 2, loc=d.mean(), scale=stats.sem(d))
    assert line.diff == pytest.approx(d.mean()) and line.paired is not None
    assert line.paired.diff.value == pytest.approx(d.mean())
    assert (line.paired.diff.lo, line.paired.diff.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert line.paired.wins == 3 and line.paired.p_improve == 1.0
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "rome" in text and "memit" in text and "B - A" in text and "+0.300" in text
    assert "B > A on 3 of 3 models" in text and "legend:" in text
    assert len(text.splitlines()) < 30


def test_two_sweeps_compare_each_setting_in_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def sweep(name: str, shift: float) -> Path:
        d = tmp_path / name
        d.mkdir()
        rows = []
        for editor in ("rome", "ft"):
            for r in _rows({0: 0.5 + shift, 1: 0.7 + shift}, editor):
                rid = f"{editor}-{r['replicate']}"
                ckpt = r["edits_applied"]
                rows.append({**r, "run_id": rid, "status": "ok", "checkpoint": ckpt,
                             "label_world": "w", "label_model": "tiny",
                             "label_scenario": "k-different", "label_editor": editor})  # fmt: skip
        pq.write_table(pa.Table.from_pylist(rows), d / "results.parquet")
        return d

    a, b = sweep("sa", 0.0), sweep("sb", 0.1)
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert text.count("k-different | w | tiny |") == 2  # both settings, matched by name
    assert text.count("+0.100") >= 4 and "B > A on 2 of 2 models" in text


def test_compare_refuses_what_is_neither_run_nor_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run_dir(tmp_path, "a", {0: 0.5}, "rome")
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "records.parquet" in err
