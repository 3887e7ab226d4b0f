"""bench/memory_report.py and bench/memory_replicates.py on hand-made runs (no model is run):
figures are per model, then over models (never pooled across models), read at the right edit
counts; and bench/memory_stream.py's label and schedule parsing."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from scipy import stats

from behemoth.replicates import across_models

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


report = _load("memory_report")
reps = _load("memory_replicates")


def _run(editor: str, seed: int, points: dict[int, dict[str, float]], n_gen: int = 40) -> str:
    """jsonl of one editor's stream: edits up to the last point, an evaluation at each point
    with retention, generalization rso and drawdown same_subject / same_value."""
    rows = [{"editor": editor, "kind": "prepare", "seconds": 1.0, "model": "m", "seed": seed}]
    rows[0]["loadavg"] = [1.5, 1.4, 1.3]
    last = max(points)
    for i in range(last):
        rows.append(
            {
                "editor": editor,
                "kind": "edit",
                "edit": i,
                "seconds": 0.1 * (seed + 1),
                "success": True,
                "memory_bytes": 0,
            }
        )
        at = i + 1
        if at in points:
            p = points[at]
            metric = [
                ("efficacy", "efficacy", "sro", p["ret"], at),
                ("generalization", "generalization", "rso", p["gen"], n_gen),
                ("drawdown", "specificity", "same_subject", p["dd"], 200),
                ("drawdown", "specificity", "same_value", p["dd"] / 2, 200),
            ]
            for m, g, sp, v, n in metric:
                rows.append(
                    {
                        "editor": editor,
                        "kind": "metric",
                        "edits_applied": at,
                        "phase": "post",
                        "metric": m,
                        "group": g,
                        "split": sp,
                        "value": v,
                        "n": n,
                    }
                )
            ev = {"editor": editor, "kind": "eval", "edits_applied": at, "seconds": 1.0}
            rows.append({**ev, "loadavg": [2.0, 1.9, 1.8]})
    return "\n".join(json.dumps(r) for r in rows) + "\n"


RET = {  # model -> serac's retention at 10 and 20 edits; rome stops at 10 or 15
    "a": (1.0, 0.95),
    "b": (0.9, 0.85),
    "c": (0.8, 0.80),
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for k, (seed, (r10, r20)) in enumerate(zip(range(3), RET.values())):
        d = tmp_path / list(RET)[k]
        d.mkdir()
        serac = {10: {"ret": r10, "gen": 0.5, "dd": 0.0}, 20: {"ret": r20, "gen": 0.4, "dd": 0.1}}
        (d / "serac.jsonl").write_text(_run("serac", seed, serac))
        stop = 10 if k == 0 else 15
        rome = {5: {"ret": 1.0, "gen": 0.6, "dd": 0.02}, stop: {"ret": 0.5, "gen": 0.3, "dd": 0.3}}
        (d / "rome.jsonl").write_text(_run("rome", seed, rome))
    return tmp_path


def test_wilson_is_scipys() -> None:
    for k, n in [(0, 10), (3, 10), (10, 10), (57, 200), (1, 1)]:
        ci = stats.binomtest(k, n).proportion_ci(method="wilson")
        lo, hi = report.wilson(k, n)
        assert lo == pytest.approx(ci.low, abs=1e-12)
        assert hi == pytest.approx(ci.high, abs=1e-12)


def test_points(root: Path) -> None:
    old = root / "earlier"  # runs written before the model was recorded are not a model
    old.mkdir()
    (old / "serac.jsonl").write_text(json.dumps({"editor": "serac", "kind": "prepare"}) + "\n")
    runs = reps.load_runs(root)
    assert list(runs) == ["a", "b", "c"]  # by seed: 0, 1, 2
    last = reps.last_at(runs)
    assert [last(m, "rome") for m in runs] == [10, 15, 15]
    assert [last(m, "serac") for m in runs] == [20, 20, 20]
    # serac was evaluated at {10, 20}, rome at {5, 10} on a and {5, 15} on b, c: none in common
    assert reps.common_point(runs) is None
    only_serac = {m: {"serac": per["serac"]} for m, per in runs.items()}
    assert reps.common_point(only_serac) == 20


def test_over_models_not_pooled(root: Path) -> None:
    runs = reps.load_runs(root)
    est = reps.estimate(runs, "serac", "retention", reps.last_at(runs))
    want = across_models([0.95, 0.85, 0.80], [20, 20, 20])
    assert est.per_model == pytest.approx(want.per_model)
    assert (est.value, est.lo, est.hi, est.sd) == pytest.approx(
        (want.value, want.lo, want.hi, want.sd)
    )
    assert est.n_models == 3 and est.n_items == 60
    # at a fixed count, a model without an evaluation there has no value (not a zero)
    at10 = reps.estimate(runs, "rome", "retention", reps.fixed_at(10))
    assert at10.n_models == 1 and at10.per_model == (0.5,)
    sec = reps.estimate(runs, "serac", "sec_per_edit", reps.last_at(runs))
    assert sec.per_model == pytest.approx((0.1, 0.2, 0.3)) and sec.lo >= 0.0  # clipped at 0
    dd = reps.estimate(runs, "rome", "drawdown/same_subject", reps.last_at(runs))
    assert dd.per_model == pytest.approx((0.3, 0.3, 0.3)) and dd.sd == 0.0


def test_findings_and_tables(root: Path) -> None:
    runs = reps.load_runs(root)
    last = reps.last_at(runs)
    table = reps.findings_table(runs, last)
    serac = next(line for line in table.splitlines() if line.startswith("| serac"))
    # retention > 0.9 on model a only (0.95); drawdown same_subject 0.1 > 0.05 on all three
    assert serac.split(" | ")[1] == "1/3" and serac.split(" | ")[3] == "3/3"
    over = reps.over_models(runs, last)
    rome = next(line for line in over.splitlines() if line.startswith("| rome"))
    assert "| 10/15/15 |" in rome
    # a run killed after its last evaluation is marked; a budget stop or a full stream is not
    rows = runs["a"]["serac"]
    assert not reps.cut_short(rows)
    extra = {"editor": "serac", "kind": "edit", "edit": 20, "seconds": 0.1, "success": True}
    assert reps.cut_short([*rows, extra])
    assert not reps.cut_short([*rows, extra, {"kind": "stopped", "edits_applied": 21}])
    text, compact = reps.report(root)
    assert "seed 0 (a)" in text and "1.5-2.0" in text and compact.startswith("| editor")
    assert "s/edit" in text and "s/edit" not in compact


def test_plot_writes_png(root: Path, tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    reps.plot(reps.load_runs(root), png)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_fmt_degenerate() -> None:
    assert reps.fmt(across_models([0.5])) == "0.500 (one model)"
    assert reps.fmt(across_models([0.5, 0.5])) == "0.500 sd 0 (all 2 equal)"
    assert reps.fmt(across_models([])) == "-"
    assert math.isnan(across_models([]).value)


@pytest.mark.slow  # importing the bench imports torch and the editors: ~20 s alone
def test_stream_labels_and_schedule() -> None:
    stream = _load("memory_stream")
    assert stream.editor_of("serac-sro") == "serac" and stream.editor_of("rome") == "rome"
    args = type("A", (), {"nets": '{"serac-sro": "n2"}', "serac_nets": "n1"})()
    assert stream.nets_of("serac", args) == "n1"
    assert stream.nets_of("serac-sro", args) == "n2"
    assert stream.nets_of("grace", args) is None
    assert stream.eval_at("5, 10,25") == {5, 10, 25} and stream.eval_at("") == set()
    with pytest.raises(SystemExit, match="--eval-at"):
        stream.eval_at("0")


def test_models_listed_by_seed(tmp_path: Path) -> None:
    for name, seed in (("x", 1), ("y", 0)):
        (tmp_path / name).mkdir()
        run = _run("serac", seed, {5: {"ret": 1.0, "gen": 0.0, "dd": 0.0}})
        (tmp_path / name / "serac.jsonl").write_text(run)
    assert list(reps.load_runs(tmp_path)) == ["y", "x"]
    assert reps.run_load(reps.load_runs(tmp_path)["x"]["serac"]) == 2.0
    assert math.isnan(reps.run_load([]))
