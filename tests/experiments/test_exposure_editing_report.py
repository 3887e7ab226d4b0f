"""The exposure study's editing report (issue 25): the run table from a sweep's rows and
run.json, the rank / steps / retention sections of editing.md and their plots, on hand-made
sweep frames."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


def _config(editor: str, settings: dict, scenario: str) -> str:
    return json.dumps(
        {
            "editor": {"name": editor, "settings": settings},
            "scenario": {"name": scenario, "settings": {}},
            "eval_every": 5,
        },
        sort_keys=True,
    )


def _sweep() -> tuple[pd.DataFrame, pd.DataFrame]:
    """rows (one per run, with its config) and items of LoRA, single-edit FT and stream runs."""
    rows, items = [], []

    def item(run: str, world: str, editor: str, scen: str, rep: int, **kw: object) -> None:
        items.append(
            {
                "run_id": run,
                "label_world": world,
                "label_model": "tiny",
                "label_scenario": scen,
                "label_editor": editor,
                "metric": "efficacy",
                "group": "efficacy",
                "split": "sro",
                "phase": "post",
                "relation": 0,
                "seed": 0,
                "replicate": rep,
                **kw,
            }
        )

    def run(run: str, editor: str, label: str, settings: dict, scenario: str) -> None:
        rows.append(
            {"run_id": run, "label_editor": label, "config": _config(editor, settings, scenario)}
        )

    for rep in range(3):
        for world, scen, expo in (("zipf", "single rare", 2), ("zipf", "single frequent", 90)):
            for r in (1, 4, 16):
                rid = f"lora-{world}{scen[7:9]}{rep}{r}"
                run(rid, "lora", f"lora rank={r}", {"rank": r, "targets": ["mlp_out"]}, "single")
                took = float(r >= (1 if expo > 50 else 4 + 12 * (rep == 2)))
                item(rid, world, f"lora rank={r}", scen, rep, edit=0, subject=rep, exposure=expo,
                     value=took, edits_applied=1)  # fmt: skip
            rid = f"ft-{scen[7:9]}{rep}"
            run(rid, "ft", "ft", {"part": "all", "steps": 50, "stop_nll": 0.05}, "single")
            item(rid, "zipf", "ft", scen, rep, edit=0, subject=rep, exposure=expo, value=1.0,
                 edits_applied=1)  # fmt: skip
        sid = f"rome-stream{rep}"
        run(sid, "rome", "rome", {"layer": 2}, "stream")
        for at in (2, 4):
            for e in range(at):
                item(sid, "zipf", "rome", "stream rare", rep, edit=e, subject=e, exposure=1 + e,
                     value=float(e % 2 == 0 or at == 2), edits_applied=at)  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(items)


def _metas(rows: pd.DataFrame) -> dict[str, dict]:
    steps = {"ra": [10, 14, 12], "fr": [3, 5, 50]}
    out = {}
    for rid in rows["run_id"]:
        if rid.startswith("ft-"):
            n = steps[rid[3:5]][int(rid[5])]
            nll = 0.01 if n < 50 else 0.2
            out[rid] = {"status": "ok", "batches": [{"info": {"steps": n, "nll": [nll]}}]}
    return out


def test_run_table_reads_rank_and_steps_where_kept():
    from behemoth.experiments.exposure import run_table

    rows, _ = _sweep()
    bare = run_table(rows).set_index("run_id")
    assert bare.loc["lora-zipfra04", "rank"] == 4 and bare.loc["lora-zipfra04", "family"] == "lora"
    assert pd.isna(bare.loc["ft-ra0", "rank"]) and bare["steps"].isna().all()  # not kept
    kept = run_table(rows, _metas(rows)).set_index("run_id")
    assert kept.loc["ft-ra1", "steps"] == 14 and kept.loc["ft-ra1", "finished"]
    assert kept.loc["ft-fr2", "steps"] == 50 and not kept.loc["ft-fr2", "finished"]
    assert kept.loc["rome-stream0", "scenario"] == "stream"


def test_editing_sections_rank_steps_retention():
    from behemoth.experiments.exposure import (
        STEPS_NOT_KEPT,
        editing_analyses,
        editing_sections,
        run_table,
    )

    rows, items = _sweep()
    parts = editing_analyses(items, run_table(rows, _metas(rows)))
    assert set(parts) == {"rank", "rank_curves", "steps", "retention"}
    needed = parts["rank"].set_index(["label_scenario", "replicate"])["rank_needed"]
    assert needed[("single rare", 0)] == 4 and needed[("single rare", 2)] == 16
    assert needed[("single frequent", 1)] == 1
    md = editing_sections(parts)
    assert "## The LoRA rank an edit needs" in md
    # rank <= 4 on the rare band (exposure 2, bin [2, 4)): 2 of 3 models
    assert "| zipf | lora | single | [2, 4) | 4 | 0.667" in md
    assert "| zipf | ft | single rare (2-2) | 12.000" in md
    assert "| zipf | ft | single frequent (90-90) | 4.000" in md  # the unfinished run left out
    assert "| zipf | rome | stream rare (1-4) | 4 | 0.500" in md
    assert "| zipf | rome | stream rare (1-4) | 2 | 1.000" in md
    bare = editing_sections(editing_analyses(items, run_table(rows)), steps_kept=False)
    assert STEPS_NOT_KEPT in bare and "## Retention" in bare


def test_write_report_with_runs_writes_the_editing_plots_byte_identically(tmp_path: Path):
    from behemoth.experiments.exposure import editing_analyses, plot_panels, run_table, write_report

    from .test_exposure_study import _facts_frame

    rows, items = _sweep()
    runs = run_table(rows, _metas(rows))
    write_report(_facts_frame(), items, tmp_path / "a", runs)
    write_report(_facts_frame(), items, tmp_path / "b", runs)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    for n in ("editing_rank.png", "editing_steps.png", "editing_retention.png"):
        assert n in names
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes(), n
    assert "## Fine-tuning steps" in (tmp_path / "a" / "editing.md").read_text()
    # a panel per scenario kind, a series per world and rank: each named in the legend
    c = editing_analyses(items, runs)["rank_curves"]
    c = c.assign(series=c["label_world"] + " r<=" + c["rank_at_most"].astype(str))
    fig = plot_panels(c.drop(columns=["label_world", "family", "rank_at_most"]), "scenario",
                      "series", "t", "share")  # fmt: skip
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "zipf r<=1",
        "zipf r<=16",
        "zipf r<=4",
    ]
    faint = [ln for ln in ax.lines if ln.get_alpha() == pytest.approx(0.25)]
    assert len(faint) == 3 * 3  # each of the 3 models, per series


def test_relearning_section_compares_the_unlearned_model_with_its_oracles(tmp_path: Path):
    from behemoth.experiments.exposure import (
        editing_analyses,
        editing_figures,
        editing_sections,
        run_table,
    )

    rows, items = _sweep()
    extra = []
    for rep in range(3):
        for scen, expo in (("forget rare", 2), ("forget frequent", 90)):
            rid = f"npo-{scen[7:9]}{rep}"
            rows.loc[len(rows)] = {"run_id": rid, "label_editor": "npo",
                                   "config": _config("npo", {}, "forget-relation")}  # fmt: skip
            for attacked in ("unlearned", "oracle"):
                for fact in range(4):
                    # hidden frequent facts come back on the unlearned model (3 of 4), rare
                    # ones do not; the oracle, which never saw them, answers none
                    back = attacked == "unlearned" and expo == 90 and fact < 3
                    for metric, value in (("answered_after", back), ("answered_before", False)):
                        extra.append({
                            "run_id": rid, "label_world": "zipf", "label_model": "tiny",
                            "label_scenario": scen, "label_editor": "npo", "metric": metric,
                            "group": "relearning", "split": attacked, "phase": "post",
                            "relation": 0, "seed": 0, "replicate": rep, "edit": fact,
                            "subject": fact, "exposure": expo, "value": float(value),
                            "edits_applied": 30,
                        })  # fmt: skip
    items = pd.concat([items, pd.DataFrame(extra)], ignore_index=True)
    parts = editing_analyses(items, run_table(rows, _metas(rows)))
    assert "relearning" in parts and set(parts["relearning"]["attacked"]) == {"unlearned", "oracle"}
    md = editing_sections(parts)
    assert "## Relearning: which forgotten facts come back" in md
    assert "| zipf | npo | forget frequent (90-90) | unlearned | 0.750" in md
    assert "| zipf | npo | forget frequent (90-90) | oracle | 0.000" in md
    assert "| zipf | npo | forget rare (2-2) | unlearned | 0.000" in md
    names = [n for n, _ in editing_figures(parts)]
    assert "editing_relearning.png" in names
