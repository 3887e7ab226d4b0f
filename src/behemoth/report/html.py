"""One self-contained HTML report: tables, and plots embedded as base64 PNG (no external request).

:func:`write_report` reads a sweep's table (or one run's records), draws every plot the table
has data for (:mod:`behemoth.report.plots`), saves each as a PNG next to the report and embeds
the same bytes in ``report.html``. Each plot is a ``<figure class="plot" id=...>`` so that a
browser test can check they are all there.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

import behemoth.report.plots as plots
from behemoth.io import write_bytes
from behemoth.report.data import (
    HeadlineTable,
    final_checkpoint,
    headline_tables,
    load_rows,
    ok_rows,
    runs,
)

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure.plot{margin:1.5em 0} figure.plot img{max-width:100%}
.failed{color:#a00}
"""


#: Marks each plot data-rendered="yes" once its image has decoded (read by the browser test).
CHECK_JS = (
    "window.addEventListener('load',function(){"
    "document.querySelectorAll('figure.plot').forEach(function(f){"
    "var i=f.querySelector('img');"
    "f.setAttribute('data-rendered',i&&i.complete&&i.naturalWidth>0?'yes':'no');});});"
)


@dataclass
class Report:
    path: Path
    plots: list[Path]
    runs: int
    failed: int


def _png(fig: Figure) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _table(head: list[str], body: list[list[str]], numeric_from: int = 0) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    rows = []
    for r in body:
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>'
            if i >= numeric_from
            else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(r)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{h}</tr>{''.join(rows)}</table>"


def summary_tables(rows: list[dict[str, Any]]) -> list[HeadlineTable]:
    """The headline tables (:data:`behemoth.report.data.HEADLINES`): a row per (scenario, world,
    model, editor label) with its number of runs (seeds pooled: successes / items of one split),
    a column per split, each cell with its 95% Wilson interval and n (items)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for rid, m in sorted(runs(rows).items()):
        if m["status"] == "ok":
            key = (m["scenario"], m["world"], m["model"], m["editor"])
            groups.setdefault(key, []).append(rid)
    keyed = {(*k, str(len(v))): v for k, v in sorted(groups.items())}
    return headline_tables(rows, keyed, ["scenario", "world", "model", "editor", "runs"])


#: The retain-oracle table's columns: (heading, metric, split) of group ``unlearning`` rows.
ORACLE_COLUMNS = (
    ("forget acc", "forget_acc", "forgotten"),
    ("held-out acc", "held_out_acc", "forgotten"),
    ("model utility", "model_utility", "forgotten"),
    ("forget quality (KS p)", "forget_quality", "forgotten"),
    ("MIA AUC (loss)", "auc", "loss"),
    ("PrivLeak % (loss)", "privleak", "loss"),
)


def oracle_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Runs judged against the retain oracle (a sweep's ``oracle: true``): one line per run (seeds
    apart: a p-value or an AUC is not pooled), each value with the interval its row carries."""
    last = final_checkpoint(rows)
    cells: dict[str, dict[tuple[str, str], str]] = {}
    for r in rows:
        if r.get("group") != "unlearning" or r.get("checkpoint") != last.get(r["run_id"]):
            continue
        v, lo, hi = r.get("value"), r.get("ci_low"), r.get("ci_high")
        text = "-" if v is None else f"{v:.3g}"
        if v is not None and lo is not None and hi is not None:
            text += f" [{lo:.3g}, {hi:.3g}]"
        cells.setdefault(r["run_id"], {})[(r["metric"], r["split"])] = f"{text} n={r['n']}"
    info = runs(rows)
    body = []
    for rid in sorted(
        cells,
        key=lambda k: (info[k]["scenario"], info[k]["world"], info[k]["editor"], info[k]["seed"]),
    ):
        m = info[rid]
        body.append(
            [m["scenario"], m["world"], m["editor"], str(m["seed"])]
            + [cells[rid].get((metric, split), "-") for _, metric, split in ORACLE_COLUMNS]
        )
    return ["scenario", "world", "editor", "seed", *[h for h, _, _ in ORACLE_COLUMNS]], body


def write_report(source: str | Path, out: str | Path | None = None) -> Report:
    """Write ``report.html`` and ``plots/*.png`` into ``out`` (default: ``source/report``)."""
    all_rows, title = load_rows(source)
    out = Path(out) if out is not None else Path(source) / "report"
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for old in (out / "plots").glob("*.png"):  # plots of an earlier report of this source
        old.unlink()
    rows = ok_rows(all_rows)
    info = runs(all_rows)
    failed = {k: v for k, v in info.items() if v["status"] != "ok"}

    sections: list[str] = []
    saved: list[Path] = []

    def add_plot(name: str, heading: str, fig: Figure, caption: str) -> None:
        data = _png(fig)
        path = out / "plots" / f"{name}.png"
        write_bytes(path, data)
        saved.append(path)
        b64 = base64.b64encode(data).decode()
        sections.append(
            f'<h3>{html.escape(heading)}</h3><figure class="plot" id="{name}">'
            f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    sections.append("<h2>Summary</h2>")
    sections.append(
        "<p>One table per metric, one column per split (splits are never pooled). Each cell: the "
        "metric at the end of the run over the seeds' items, its 95% Wilson interval and n.</p>"
    )
    for t in summary_tables(rows):
        sections.append(f"<h3>{html.escape(t.title)}</h3>")
        sections.append(_table(t.head, t.body, numeric_from=4))

    head, body = oracle_table(rows)
    if body:
        sections.append("<h2>Unlearning against the retain oracle</h2>")
        sections.append(
            "<p>The retain oracle: the same model trained without the forget set. Forget quality: "
            "KS test p-value of the forget set's truth ratios against the oracle's (TOFU); "
            "PrivLeak: the run's membership AUC relative to the oracle's (MUSE).</p>"
        )
        sections.append(_table(head, body, numeric_from=3))

    rank = plots.rank_data(rows)
    if rank:
        sections.append("<h2>Update rank against edit success and collateral damage</h2>")
        add_plot(
            "rank",
            "Rank vs edit success and remaining accuracy",
            plots.plot_rank(rank),
            "Measured rank of the weight update (max over changed matrices) per editor setting; "
            f"edit success on split {plots.EFFICACY_SPLIT}, remaining accuracy on each of "
            f"{', '.join(plots.DAMAGE_SPLITS)} (one row each, never pooled); bars: 95% Wilson "
            "intervals over all items of all seeds.",
        )
    maps = plots.heatmap_data(rows)
    if maps:
        sections.append("<h2>Where to edit: layer x module</h2>")
        add_plot(
            "heatmaps",
            "Layer x module heatmaps",
            plots.plot_heatmaps(maps),
            "Edit success and remaining accuracy (one map per split) of edits confined to one "
            "layer and module.",
        )
    seq = plots.sequential_data(rows)
    if seq:
        sections.append("<h2>Sequential editing</h2>")
        for i, (key, curves) in enumerate(sorted(seq.items())):
            add_plot(
                f"sequential-{i}",
                f"Sequential editing: {key}",
                plots.plot_sequential(curves, key),
                f"Retention: edit success ({plots.EFFICACY_SPLIT}) of the edits applied so far; "
                f"accuracy on unedited facts: split {plots.WORLD_SPLIT}. Disabling edit: a batch "
                f"update norm > {plots.DISABLING_FACTOR:g}x the median before it; collapse: "
                f"accuracy on unedited facts < {plots.COLLAPSE_FRACTION:g}x the unedited model's.",
            )
    unl = plots.unlearning_data(rows)
    if unl:
        sections.append("<h2>Unlearning trade-offs</h2>")
        add_plot(
            "unlearning",
            "Forgetting against retention",
            plots.plot_unlearning(unl),
            f"Share of forgotten facts still answered (split {plots.FORGET_SPLIT}) vs accuracy on "
            f"retained facts (split {plots.RETAIN_SPLIT}), with 95% intervals.",
        )
    if failed:
        sections.append('<h2 class="failed">Failed runs</h2>')
        sections.append(
            _table(
                ["run", "scenario", "world", "editor", "error"],
                [
                    [k, v["scenario"], v["world"], v["editor"], str(v["error"])]
                    for k, v in sorted(failed.items())
                ],
                numeric_from=99,
            )
        )
    doc = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>behemoth report: {html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>behemoth report: {html.escape(title)}</h1>"
        f"<p>{len(info)} runs ({len(failed)} failed); {len(saved)} plots.</p>"
        + "".join(sections)
        + f"<script>{CHECK_JS}</script></body></html>\n"
    )
    write_bytes(out / "report.html", doc.encode())
    return Report(out / "report.html", saved, len(info), len(failed))
