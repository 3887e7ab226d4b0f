"""The end-to-end demo: a world, a model that knows it, a small study, one HTML report.

``behemoth demo --out DIR`` runs the ``demo`` sweep preset (``presets/sweep/demo.yaml``): it
generates the ``demo`` world and trains the ``demo`` model once (in ``DIR/shared``, reused when
already there with the same configs), applies fine-tuning, LoRA at two ranks, ROME, MEMIT and
AlphaEdit to a single edit and to 10 different edits, runs a short sequential stream, prints
efficacy / generalization / specificity / locality per editor and scenario and writes the report
(``DIR/study/report/report.html``). ``quick`` uses the ``tiny`` presets (used by the tests).
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


def demo_spec(quick: bool, editors: list[str] | None = None) -> SweepSpec:
    """The demo study, restricted to the editors named in ``editors`` (default: all)."""
    spec = load_spec("demo", "quick" if quick else None)
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
    groups: dict[tuple[str, ...], list[str]] = {
        (m["editor"], m["scenario"]): [rid] for rid, m in order
    }
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
) -> DemoResult:
    """Run the demo study into ``out`` (shared/, study/) and write its report."""
    out = Path(out)
    t0 = time.perf_counter()
    spec = demo_spec(quick, editors)
    res = run_sweep(spec, out / "study", shared=out / "shared", backend=backend)
    table = demo_table(out / "study")
    print("\n" + table)
    report = write_report(out / "study")
    print(f"\ntable: {res.table}")
    print(f"report: {report.path}")
    print(f"demo done in {time.perf_counter() - t0:.0f} s ({res.failed} runs failed)")
    return DemoResult(out / "study", report, table)
