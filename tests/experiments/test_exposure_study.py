"""The exposure study (issue 25): per-fact scoring of a trained model, the sweep preset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from behemoth.errors import BehemothError
from behemoth.world import World


def test_score_facts_one_row_per_so_fact_with_exposure(tiny_world: World, tiny_model: Path):
    from behemoth.analysis.exposure import learning_curves
    from behemoth.experiments.exposure import score_facts
    from behemoth.model import load_model
    from behemoth.model.scoring import probe_accuracy, score
    from behemoth.world.exposure import fact_exposure

    model, _ = load_model(tiny_model, tiny_world)
    facts = score_facts(model, tiny_world, replicate=3)
    S, R = tiny_world.graph.objects.shape
    assert len(facts) == S * R and facts["fact"].tolist() == list(range(S * R))
    assert (facts["replicate"] == 3).all()
    assert (facts["subject"] * R + facts["relation"] == facts["fact"]).all()
    counts = fact_exposure(tiny_world)
    assert (facts["exposure"].to_numpy() == counts[: S * R]).all()
    # the per-fact correctness averages to the world's probe accuracy; loss is an NLL
    acc = probe_accuracy(model, tiny_world.probes["sro"])
    assert facts["correct"].mean() == acc
    assert (facts["loss"] >= 0).all()
    # where greedy is right, the object's NLL is the greedy token's: -log of the top probability
    got = score(model, tiny_world.probes["sro"])
    right = facts["correct"].to_numpy()
    assert np.allclose(facts["loss"].to_numpy()[right], -got.pred_logprob[right])
    curves = learning_curves(facts)  # subject and relation are not grouping columns
    assert curves["n"].sum() == S * R
    assert len(curves) == curves["bin"].nunique()


PRESET = "exposure"


def _runs(scale: str | None = None) -> list:
    from behemoth.experiments.sweep.spec import expand, load_spec

    return expand(load_spec(PRESET, scale))


def _banded(run) -> bool:
    return "exposure" in run.experiment.scenario_settings


def test_preset_expands_to_the_intended_runs_and_no_band_on_the_uniform_world():
    from behemoth.experiments.exposure import WORKERS, plan_text, run_seconds

    runs = _runs()
    # per model on zipf: 7 edit configs (lora at ranks 1, 4, 16) x 4 banded scenarios,
    # 3 stream editors x 2 banded streams, 2 unlearners x 2 banded forgets; on uniform
    # 7 x 2 unbanded edits, 3 x 1 unbanded stream, 2 x 1 unbanded forget; five replicates
    assert len(runs) == 5 * ((7 * 4 + 3 * 2 + 2 * 2) + (7 * 2 + 3 * 1 + 2 * 1)) == 285
    assert len({r.run_id for r in runs}) == len(runs)
    by_world = Counter(r.labels["world"] for r in runs)
    assert by_world == {"zipf": 5 * 38, "uniform": 5 * 19}
    assert not [r.run_id for r in runs if r.labels["world"] == "uniform" and _banded(r)]
    assert all(_banded(r) for r in runs if r.labels["world"] == "zipf")
    editors = {r.experiment.editor for r in runs}
    assert editors == {"ft", "lora", "rome", "memit", "alphaedit", "npo", "ga"}
    lora = [r for r in runs if r.experiment.editor == "lora"]
    assert {r.experiment.editor_settings.get("rank") for r in lora} == {1, 4, 16}
    # the ranks of one scenario on one model share the scenario's settings and seed
    by_group = Counter(
        (r.labels["world"], r.labels["replicate"], r.labels["scenario"]) for r in lora
    )
    assert set(by_group.values()) == {3}
    assert {r.labels["replicate"] for r in runs} == {str(i) for i in range(5)}
    streams = [r for r in runs if r.experiment.scenario == "stream"]
    assert len(streams) == 5 * (3 * 2 + 3)
    assert {(r.experiment.editor, r.labels["editor"]) for r in streams} == {
        ("rome", "rome"),
        ("memit", "memit"),
        ("ft", "ft stream"),
        ("rome", "rome control"),
        ("memit", "memit control"),
        ("ft", "ft stream control"),
    }
    for r in streams:
        s = r.experiment.scenario_settings
        assert (s["n"], s["batch_size"]) == (20, 1)
        if r.experiment.editor == "ft":
            assert r.experiment.editor_settings["part"] == "mlp"
            assert r.experiment.editor_settings["layers"] == [2]
    bands = {r.labels["scenario"]: r.experiment.scenario_settings.get("exposure") for r in streams}
    assert bands == {
        "stream rare": {"edit": [0.0, 0.1]},
        "stream frequent": {"edit": [0.9, 1.0]},
        "stream": None,
    }
    # eval_every is the sweep's: every run carries it, only streams have several batches
    assert {r.experiment.eval_every for r in runs} == {5}
    # the estimate: 240 runs at 23.4 s, the streams from the sequential study's figures
    rome = next(r for r in streams if r.labels["editor"] == "rome")
    assert run_seconds(rome) == pytest.approx(1.8 + 20 * 2.17 + 4 * 5.41)
    total = sum(run_seconds(r) for r in runs)
    assert total == pytest.approx(
        240 * 23.4 + 15 * (3 * 1.8 + 20 * (2.17 + 2.74 + 11.0) + 12 * 5.41)
    )
    assert round(total / 60) == 191 and total / WORKERS < 2 * 3600
    assert plan_text(runs, None).startswith("285 runs (uniform: 95, zipf: 190; 45 of them streams)")


def test_paper_scale_three_pythia_replicates_on_paper_sized_worlds():
    runs = _runs("paper")
    assert len(runs) == 3 * 57
    assert {r.labels["replicate"] for r in runs} == {"0", "1", "2"}
    assert not [r for r in runs if r.labels["world"] == "uniform" and _banded(r)]


def test_banded_scenarios_build_on_the_zipf_world_from_the_two_tails(tmp_path: Path):
    from behemoth.experiments.sweep.spec import load_spec
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world import WorldConfig, generate_world
    from behemoth.world.exposure import fact_exposure
    from behemoth.world.presets import world_preset

    spec = load_spec(PRESET)
    w = spec.worlds["zipf"]
    world = generate_world(
        WorldConfig.from_dict({**world_preset(w.preset), **w.set}), tmp_path / "w", shards=False
    )
    R = world.graph.n_relations
    counts = fact_exposure(world)
    seen: dict[str, list[int]] = {}
    for label, s in spec.scenarios.items():
        if "exposure" not in s.settings:
            continue
        sc = build_scenario(world, s.name, dict(s.settings))
        seen[label] = [int(counts[q.subject * R + q.relation]) for q in sc.requests]
        assert seen[label], label
    for kind in ("single", "10 different", "forget", "stream"):
        rare, frequent = seen[f"{kind} rare"], seen[f"{kind} frequent"]
        assert max(rare) < min(frequent), kind


def _facts_frame() -> pd.DataFrame:
    rows = []
    for world, shift in (("zipf", 0.0), ("uniform", 0.1)):
        for r in range(3):
            for e, acc in ((1, 0.1), (4, 0.5 + 0.05 * r), (32, 1.0)):
                for i in range(10):
                    ok = i < round(min(1.0, acc + shift) * 10)
                    rows.append(
                        {
                            "replicate": r,
                            "fact": e * 10 + i,
                            "exposure": e,
                            "correct": ok,
                            "loss": 1.0 / e,
                            "world": world,
                        }
                    )
    return pd.DataFrame(rows)


def test_learning_report_tables_crossings_and_plots(tmp_path: Path):
    from behemoth.analysis.exposure import learning_curves
    from behemoth.experiments.exposure import learning_markdown, plot_curves

    facts = _facts_frame()
    md = learning_markdown(facts)
    assert "## uniform" in md and "## zipf" in md
    assert "| [4, 8) |" in md and "3 models, n=30" in md
    assert "| 50% |" in md and "of 3" in md
    fig = plot_curves(learning_curves(facts, ["world"]), ["accuracy", "loss"], "world", "Learning")
    fig.savefig(tmp_path / "l.png")
    assert (tmp_path / "l.png").stat().st_size > 0
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"
    # per world: 3 faint replicate lines and the mean, marked so a one-bin control shows
    means = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    assert len(fig.axes[0].lines) == 2 * 4 and [ln.get_label() for ln in means] == [
        "uniform",
        "zipf",
    ]


def test_editing_curves_from_items():
    from behemoth.experiments.exposure import editing_curves, editing_markdown

    rows = []
    for r in range(2):
        for e in (1, 100):
            for metric in ("efficacy", "specificity", "update_fro"):
                rows.append(
                    {
                        "metric": metric,
                        "split": "s",
                        "phase": "post",
                        "replicate": r,
                        "exposure": e,
                        "value": 1.0 if e == 100 else 0.0,
                        "label_world": "zipf",
                        "label_editor": "rome",
                    }
                )
    curves = editing_curves(pd.DataFrame(rows))
    assert set(curves["metric"]) == {"efficacy", "specificity"}
    assert curves.groupby("bin")["value"].mean().to_dict() == {0: 0.0, 6: 1.0}
    md = editing_markdown(curves)
    assert "| efficacy | zipf | rome | [64, 128) | 1.000 sd 0 (all 2 models equal" in md


def test_report_files_are_the_same_bytes_for_the_same_input(tmp_path: Path):
    from behemoth.experiments.exposure import write_report

    facts = _facts_frame()
    items = pd.DataFrame(
        [
            {
                "metric": m,
                "split": "s",
                "phase": "post",
                "replicate": r,
                "exposure": e,
                "value": v,
                "label_world": "zipf",
                "label_editor": "rome",
            }
            for r in range(3)
            for e, v in ((2, 0.3 + 0.1 * r), (50, 0.9))
            for m in ("efficacy", "specificity")
        ]
    )
    write_report(facts, items, tmp_path / "a")
    write_report(facts, items, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(
        [
            "editing.md",
            "editing_efficacy.png",
            "editing_specificity.png",
            "learning.md",
            "learning.parquet",
            "learning.png",
        ]
    )
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes(), n
    write_report(facts, items, tmp_path / "a")  # a report is replaced whole
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.txt").write_text("x")
    with pytest.raises(BehemothError):
        write_report(facts, items, tmp_path / "c")
    assert (tmp_path / "c" / "mine.txt").exists()


def test_dry_run_prints_the_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    from behemoth.experiments.exposure import main

    assert main(["--out", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("285 runs (uniform: 95, zipf: 190; 45 of them streams)")
    assert "~191 min of worker time (~95 min on 2 workers)" in out
    assert not (tmp_path / "o").exists()
    assert main(["--out", str(tmp_path / "o"), "--dry-run", "--scale", "gpu"]) == 2


@pytest.mark.slow
def test_study_end_to_end_on_a_tiny_sweep(tmp_path: Path):
    """Two worlds, one tiny model each, one edit: every file of the study is written."""
    from behemoth.config import validate
    from behemoth.experiments.exposure import run_study
    from behemoth.experiments.sweep.spec import SweepSpec, expand

    spec = validate(
        SweepSpec,
        {
            "name": "exposure-tiny",
            "worlds": {"zipf": {"preset": "zipf"}, "uniform": {"preset": "tiny"}},
            "models": {"tiny": {"preset": "tiny", "replicates": 1}},
            "scenarios": {"single": {"name": "single"}},
            "editors": {"rome": {"name": "rome", "settings": {"layer": 2}}},
            "seeds": [0],
        },
    )
    run_study(spec, expand(spec), tmp_path / "o", None)
    dest = tmp_path / "o" / "exposure"
    names = {p.name for p in dest.iterdir()}
    assert {"learning.parquet", "learning.md", "learning.png", "editing.md"} <= names
    facts = pd.read_parquet(dest / "learning.parquet")
    assert set(facts["world"]) == {"zipf", "uniform"} and len(facts) == 2 * 400
    assert facts.loc[facts["world"] == "uniform", "exposure"].nunique() == 1
    assert facts.loc[facts["world"] == "zipf", "exposure"].nunique() > 5
    assert "| efficacy | zipf | rome |" in (dest / "editing.md").read_text()
    md = (dest / "learning.md").read_text()
    assert md.count("## ") == 2 and "## uniform" in md and "## zipf" in md
