"""The end-to-end demo and the editing run it is made of, on the tiny world and model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from behemoth.editors import EditContext, build_editor
from behemoth.experiments import run_edit
from behemoth.experiments.demo import demo_spec, run_demo
from behemoth.experiments.sweep.backends import LocalBackend
from behemoth.model import load_model
from behemoth.scenarios.scenario import build_scenario
from behemoth.world import World


def test_sequential_run_applies_batches_in_order_and_keeps_the_reference(
    tiny_world: World, tiny_model: Path
) -> None:
    model, _ = load_model(tiny_model, tiny_world)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scenario = build_scenario(tiny_world, "stream", {"n": 4, "batch_size": 2})
    editor = build_editor("rome")
    editor.prepare(model, tiny_world)
    run = run_edit(model, tiny_world, scenario, editor, run="t", eval_every=1)
    assert len(run.batches) == 2
    # evaluated after batch 1 (2 edits applied) and at the end (all 4)
    applied = {r.get("edits_applied") for r in run.records.rows}
    assert 2 in applied
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    final = [
        r for r in run.records.rows if r.get("batches_applied") == 2 and r["metric"] == "efficacy"
    ]
    assert final and final[0]["value"] >= 0.75


@pytest.mark.slow
def test_quick_demo_reuses_world_and_model_and_writes_a_report(
    tiny_world: World, tiny_model: Path, tmp_path: Path
) -> None:
    from behemoth.experiments.sweep.execute import shared_model, shared_world
    from behemoth.experiments.sweep.spec import expand

    out = tmp_path / "demo"
    # The demo's world is the tiny preset: same config -> same world as tiny_world; put the
    # already-trained tiny model where the study looks for it, so it is reused, not trained.
    run = expand(demo_spec(True, ["rome"]))[0]
    world = shared_world(out / "shared", run.config["world"])
    assert world.fingerprint == tiny_world.fingerprint
    target = shared_model(out / "shared", world, run.config["model"], build=False)
    shutil.copytree(tiny_model, target)
    res = run_demo(out, quick=True, editors=["rome"], backend=LocalBackend(0))
    rows = read_records_sweep(out / "study")
    eff = [r["value"] for r in rows if r["metric"] == "efficacy" and r["checkpoint"] > 0]
    assert eff and min(eff) >= 0.5
    assert "rome" in res.table and res.report.path.is_file()
    assert {p.stem for p in res.report.plots} >= {"rank", "sequential-0"}


def read_records_sweep(study: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(study / "results.parquet").to_pylist()


def test_fact_replay_rehearses_only_the_scenarios_retain_mix(tiny_world: World) -> None:
    from behemoth.editors.gradient.trainer import _FactReplay

    scenario = build_scenario(tiny_world, "k-different", {"k": 3})
    retain = scenario.retain.probes
    assert len(retain) > 0
    allowed = {tuple(int(t) for t in retain.prompt(i)) for i in range(len(retain))}
    tested = {
        tuple(int(t) for t in t_.probes.prompt(i))
        for group in scenario.groups().values()
        for t_ in group
        for i in range(len(t_.probes))
    }
    replay = _FactReplay(tiny_world, scenario.requests, 16, seed=0, probes=retain)
    batch = replay.next_batch()
    ids, last = batch.ids.tolist(), batch.answer_pos.tolist()
    rows = [tuple(ids[i][: last[i] + 1]) for i in range(len(ids))]
    assert rows and all(r in allowed for r in rows)
    # and the retain mix never holds a tested prompt, so nothing measured is rehearsed
    assert not (allowed & tested)


def test_run_edit_hands_the_retain_mix_to_the_editor(tiny_world: World, tiny_model: Path) -> None:
    model, _ = load_model(tiny_model, tiny_world)
    scenario = build_scenario(tiny_world, "single", {})
    editor = build_editor("ft", {"steps": 2})
    editor.prepare(model, tiny_world)
    seen: list[EditContext | None] = []
    apply = editor.apply

    def spy(m: torch.nn.Module, reqs: Any, context: EditContext | None = None) -> Any:
        seen.append(context)
        return apply(m, reqs, context)

    editor.apply = spy  # type: ignore[method-assign]
    run_edit(model, tiny_world, scenario, editor)
    assert seen and all(c is not None and c.retain is scenario.retain.probes for c in seen)


def _row(rid: str, metric: str, group: str, split: str, value: float, n: int) -> dict[str, Any]:
    return {
        "run_id": rid,
        "label_scenario": "k-different",
        "label_editor": rid,
        "metric": metric,
        "group": group,
        "split": split,
        "checkpoint": 1,
        "phase": "post",
        "value": value,
        "n": n,
    }


def _block(table: str, title_start: str) -> list[str]:
    """The lines of one headline table (its title line first)."""
    for block in table.split("\n\n"):
        if block.startswith(title_start):
            return block.splitlines()
    raise AssertionError(f"no table {title_start!r} in\n{table}")


def test_demo_table_shows_every_value_with_its_interval_and_n() -> None:
    from behemoth.experiments.demo import table_of
    from behemoth.intervals import wilson

    rows = [
        _row("rome", "efficacy", "efficacy", "sro", 0.9, 10),
        _row("rome", "specificity", "specificity", "same_subject", 0.5, 30),
        _row("ft", "efficacy", "efficacy", "sro", 1.0, 10),
        _row("ft", "specificity", "specificity", "other", 1.0, 40),
    ]
    table = table_of(rows)
    eff = {ln.split()[0]: ln for ln in _block(table, "edit success (efficacy)")[2:]}
    lo, hi = wilson(9, 10)  # a row without its own interval: Wilson over its items
    assert f"0.900 [{lo:.3f}, {hi:.3f}] (1 model, n=10)" in eff["rome"]
    assert "1.000 [" in eff["ft"] and "n=10" in eff["ft"]
    spec = _block(table, "specificity")
    assert spec[1].split()[-2:] == ["same_subject", "other"]  # one column per split
    by = {ln.split()[0]: ln for ln in spec[2:]}
    assert "0.500 [" in by["rome"] and by["rome"].endswith("-")  # a split it lacks is a dash
    assert "n=40" in by["ft"] and "n=30" not in by["ft"]
    md = table_of(rows, markdown=True)
    assert "| editor | scenario | same_subject | other |" in md


def test_demo_table_never_pools_splits_of_different_meaning() -> None:
    """A run with 3 same-subject items at 0.0 and 5,000 other items at 1.0 must not read 0.999."""
    from behemoth.experiments.demo import table_of

    rows = [
        _row("rome", "specificity", "specificity", "same_subject", 0.0, 3),
        _row("rome", "specificity", "specificity", "other", 1.0, 5000),
    ]
    line = _block(table_of(rows), "specificity")[2]
    assert "0.000 [" in line and "n=3" in line and "1.000 [" in line and "n=5000" in line
    assert "n=5003" not in line


def test_demo_table_reports_forgetting_per_split() -> None:
    from behemoth.experiments.demo import table_of

    rows = [
        _row("npo", "forget_accuracy", "forgetting", "held_out", 1.0, 80),
        _row("npo", "forget_accuracy", "forgetting", "forgotten", 0.1, 20),
    ]
    lines = _block(table_of(rows), "forgetting")
    assert lines[1].split()[-2:] == ["forgotten", "held_out"]
    assert "0.100 [" in lines[2] and "n=20" in lines[2] and lines[2].endswith("n=80)")
