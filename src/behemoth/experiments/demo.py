"""The end-to-end demo: a world, a model that knows it, a small study, one HTML report.

``behemoth demo --out DIR`` runs the ``demo`` sweep preset (``presets/sweep/demo.yaml``): it
generates the ``demo`` world and trains the ``demo`` model once (in ``DIR/shared``, reused when
already there with the same configs), applies fine-tuning, LoRA at two ranks, ROME, MEMIT and
AlphaEdit to a single edit and to 10 different edits, runs a short sequential stream, prints
efficacy / generalization / specificity / locality per editor and scenario and writes the report
(``DIR/study/report/report.html``). ``quick`` uses the ``tiny`` presets (used by the tests).

It trains ONE model by default (``replicates``): the whole demo then takes about 8 minutes on
two cores, and every replicate adds about the training and the runs again (roughly 7 minutes),
which would break its 10-minute budget. It says so when it prints its tables: a finding on one
trained model is an anecdote; ``--replicates N`` states every number over N trained models.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behemoth.config import validate
from behemoth.errors import ConfigError
from behemoth.experiments.sweep import SweepSpec, load_spec, run_sweep
from behemoth.experiments.sweep.backends import Backend
from behemoth.report import Report, write_report
from behemoth.report.data import headline_tables, load_rows, ok_rows, runs

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    study: Path
    report: Report
    table: str


def demo_spec(quick: bool, editors: list[str] | None = None, replicates: int = 1) -> SweepSpec:
    """The demo study, restricted to the editors named in ``editors`` (default: all), on
    ``replicates`` trained models."""
    spec = load_spec("demo", "quick" if quick else None)
    if replicates != 1:
        data = spec.to_dict()
        for m in data["models"].values():
            m["replicates"] = replicates
        spec = _prefixed_replicates(data)
    if editors:
        known = {e.name for e in spec.editors.values()}
        for e in editors:
            if e not in known:
                raise ConfigError(
                    "--editors", f"the demo does not run {e!r}", f"choose from {sorted(known)}"
                )
        data = spec.to_dict()
        data["editors"] = {k: v for k, v in data["editors"].items() if v["name"] in editors}
        spec = validate(SweepSpec, data)
    return spec


def _prefixed_replicates(data: dict[str, Any]) -> SweepSpec:
    try:
        return validate(SweepSpec, data)
    except ConfigError as e:
        raise ConfigError("--replicates", e.problem, e.fix) from None


def models_note(rows: list[dict[str, Any]]) -> str:
    """How many trained models the figures rest on, and what that means for reading them."""
    n = len({(r.get("label_world"), r.get("label_model"), r.get("replicate", 0)) for r in rows})
    if n <= 1:
        return (
            "1 trained model: every figure is this model's (its intervals are over edits and "
            "items, not over models; another training run of the same recipe can differ as "
            "much as two seeds do). Use --replicates N to state them over N trained models."
        )
    return f"{n} trained models: each cell is the mean over models with its interval over models."


#: Width of a cell ``0.950 [0.910, 0.970] n=1200``.
CELL = 30


def demo_table(study: Path) -> str:
    """The demo study's table (see :func:`table_of`)."""
    return table_of(ok_rows(load_rows(study)[0]))


def table_of(rows: list[dict[str, Any]], *, markdown: bool = False) -> str:
    """The headline tables (:data:`behemoth.report.data.HEADLINES`): one per metric, a line per
    editor and scenario, a column per split (never pooled across splits), each cell the value at
    the end of the run with its 95% Wilson interval and n (the items behind it)."""
    info = runs(rows)
    order = sorted(info.items(), key=lambda kv: (kv[1]["scenario"], kv[1]["editor"]))
    groups: dict[tuple[str, ...], list[str]] = {}
    for rid, m in order:  # every run of a setting: its trained models (and seeds)
        groups.setdefault((m["editor"], m["scenario"]), []).append(rid)
    blocks = []
    for t in headline_tables(rows, groups, ["editor", "scenario"]):
        if markdown:
            lines = [f"**{t.title}**", "", "| " + " | ".join(t.head) + " |"]
            lines.append("|" + "---|" * len(t.head))
            lines += ["| " + " | ".join(r) + " |" for r in t.body]
        else:
            widths = [14, 13] + [CELL] * (len(t.head) - 2)
            lines = [t.title]
            for r in [t.head, *t.body]:
                cells = [
                    f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths))
                ]
                lines.append(" ".join(cells).rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run_demo(
    out: str | Path,
    *,
    quick: bool = False,
    editors: list[str] | None = None,
    backend: Backend | None = None,
    replicates: int = 1,
) -> DemoResult:
    """Run the demo study into ``out`` (shared/, study/) and write its report."""
    out = Path(out)
    t0 = time.perf_counter()
    spec = demo_spec(quick, editors, replicates)
    res = run_sweep(spec, out / "study", shared=out / "shared", backend=backend)
    table = demo_table(out / "study")
    print("\n" + table)
    print("\n" + models_note(ok_rows(load_rows(out / "study")[0])))
    report = write_report(out / "study")
    print(f"\ntable: {res.table}")
    print(f"report: {report.path}")
    print(f"demo done in {time.perf_counter() - t0:.0f} s ({res.failed} runs failed)")
    return DemoResult(out / "study", report, table)
