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


def test_demo_table_shows_every_value_with_its_interval_and_n() -> None:
    from behemoth.experiments.demo import table_of
    from behemoth.report.data import wilson

    def row(rid: str, metric: str, group: str, split: str, value: float, n: int) -> dict[str, Any]:
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

    rows = [
        row("rome", "efficacy", "efficacy", "edit", 0.9, 10),
        row("rome", "specificity", "specificity", "same_subject", 0.5, 30),
        row("ft", "efficacy", "efficacy", "edit", 1.0, 10),
    ]
    lines = table_of(rows).splitlines()
    by = {ln.split()[0]: ln for ln in lines[1:]}
    e = wilson(9, 10)
    assert f"0.900 [{e.lo:.3f}, {e.hi:.3f}] n=10" in by["rome"]
    assert "0.500 [" in by["rome"] and "n=30" in by["rome"]
    assert "1.000 [" in by["ft"] and "n=10" in by["ft"]
    assert by["ft"].split()[-1] == "-"  # a metric the run lacks is a dash, not 0


def test_demo_table_reports_forgetting_on_the_forgotten_split_only() -> None:
    from behemoth.experiments.demo import table_of

    def row(split: str, value: float, n: int) -> dict[str, Any]:
        return {
            "run_id": "npo",
            "label_scenario": "forget",
            "label_editor": "npo",
            "metric": "forget_accuracy",
            "group": "forgetting",
            "split": split,
            "checkpoint": 1,
            "phase": "post",
            "value": value,
            "n": n,
        }

    lines = table_of([row("forgotten", 0.1, 20), row("held_out", 1.0, 80)]).splitlines()
    assert lines[0].split()[-1] == "forgotten"
    assert "0.100 [" in lines[1] and lines[1].endswith("n=20")  # held-out items not pooled in
