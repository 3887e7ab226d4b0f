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
from behemoth.errors import OutputExistsError
from behemoth.io import check_text_path, out_lock, read_json, write_bytes, write_json
from behemoth.report.compare import EditorComparison, editor_comparisons
from behemoth.report.data import (
    FINDINGS,
    HeadlineTable,
    Mixed,
    final_checkpoint,
    headline_tables,
    load_rows,
    model_name,
    ok_rows,
    runs,
)

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure.plot{margin:1.5em 0} figure.plot img{max-width:100%}
.failed{color:#a00} .flag{color:#a60;font-weight:600}
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


def setting_groups(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """(scenario, world, model, editor, runs) -> the setting's runs (its trained models x
    seeds), for rows that finished."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for rid, m in sorted(runs(rows).items()):
        if m["status"] == "ok":
            key = (m["scenario"], m["world"], m["model"], m["editor"])
            groups.setdefault(key, []).append(rid)
    return {(*k, str(len(v))): v for k, v in sorted(groups.items())}


def summary_tables(
    rows: list[dict[str, Any]], mixed: list[Mixed] | None = None
) -> list[HeadlineTable]:
    """The headline tables (:data:`behemoth.report.data.HEADLINES`): a row per (scenario, world,
    model, editor label) with its number of runs, a column per split; each cell the estimate
    over trained models (mean, 95% t-interval over models, between-model SD, n models, n items;
    one model: its within-run interval) and "holds on k of n models" for the metric's
    finding."""
    return headline_tables(
        rows, setting_groups(rows), ["scenario", "world", "model", "editor", "runs"], mixed
    )


def comparison_table(comps: list[EditorComparison]) -> tuple[list[str], list[list[str]]]:
    """A vs B: paired difference over models, P(A beats B on a new model), sign flips."""
    head = [
        "scenario",
        "world",
        "model",
        "what (split)",
        "A",
        "B",
        "A - B per model: mean [95% t over models] sd",
        "P(A beats B on a new model) [95% bootstrap]",
        "A > B / A < B (models)",
        "flag",
    ]
    body = []
    for c in comps:
        p, lo, hi = c.p_beats
        d = c.result.diff.per_model
        body.append(
            [
                c.scenario,
                c.world,
                c.model,
                f"{c.what} ({c.split})",
                c.a,
                c.b,
                c.result.diff.fmt(),
                f"{p:.2f} [{lo:.2f}, {hi:.2f}]",
                f"{sum(x > 0 for x in d)} / {sum(x < 0 for x in d)} of {len(d)}",
                "sign differs between models" if c.flagged else "",
            ]
        )
    return head, body


#: The retain-oracle table's columns: (heading, metric, split) of group ``unlearning`` rows.
ORACLE_COLUMNS = (
    ("forget acc", "forget_acc", "forgotten"),
    ("held-out acc", "held_out_acc", "forgotten"),
    ("model utility", "model_utility", "forgotten"),
    ("forget quality (KS p)", "forget_quality", "forgotten"),
    ("noise floor: oracle 2 vs 1 (KS p)", "noise_forget_quality", "forgotten"),
    ("MIA AUC (Min-40%)", "auc", "min_k"),
    ("PrivLeak % (Min-40%)", "privleak", "min_k"),
    ("noise floor PrivLeak % (Min-40%)", "noise_privleak", "min_k"),
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


#: At most this many findings that differ between models are listed at the top of a report.
MAX_LISTED = 15


def mixed_line(m: Mixed) -> str:
    """``single | w | m | rome: efficacy (sro): success >= 0.9 holds on 2 of 5 models``."""
    return f"{' | '.join(m.key[:4])}: {m.metric} ({m.split}): {m.finding} holds on {m.k} of {m.n} models"


#: The files a report wrote into its folder (relative names): a later report into the same
#: folder removes those it does not write again, and never anything else.
WRITTEN = ".behemoth-report.json"


def check_report_out(out: str | Path, force: bool = False) -> Path:
    """``out`` may receive a report: new, empty or an earlier report's folder (``report.html``),
    else only with ``force`` (which adds the report's files and removes none of the others)."""
    check_text_path("--out", out)
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputExistsError(
                f"--out: {out} exists and is not a directory; choose another path"
            )
        ours = (out / "report.html").is_file() or (out / WRITTEN).is_file()
        if not ours and not force and any(out.iterdir()):
            raise OutputExistsError(
                f"--out: {out} holds files that are not a report; choose a new or empty "
                "directory, or pass --force to add the report beside them (nothing is removed)"
            )
    return out


def _earlier_files(out: Path) -> list[str]:
    """The files an earlier report wrote into ``out`` (from its record; none without one)."""
    if not (out / WRITTEN).is_file():
        return []
    try:
        names = read_json(out / WRITTEN, "the report's record").get("files", [])
    except Exception:  # a damaged record: remove nothing rather than guess
        return []
    return [n for n in names if isinstance(n, str) and n.startswith("plots/") and "/." not in n]


def write_report(
    source: str | Path, out: str | Path | None = None, *, force: bool = False
) -> Report:
    """Write ``report.html`` and ``plots/*.png`` into ``out`` (default: ``source/report``).

    ``out`` must be new, empty or an earlier report's folder, unless ``force``; the files an
    earlier report recorded (``.behemoth-report.json``) and this one no longer writes are
    removed, nothing else. Holds ``out``'s lock throughout (a concurrent report is refused)."""
    out = check_report_out(out if out is not None else Path(source) / "report", force)
    all_rows, title = load_rows(source)
    with out_lock(out):
        check_report_out(out, force)
        return _write_report(all_rows, title, out)


def _write_report(all_rows: Any, title: str, out: Path) -> Report:
    (out / "plots").mkdir(parents=True, exist_ok=True)
    earlier = _earlier_files(out)
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

    mixed: list[Mixed] = []
    tables = summary_tables(rows, mixed)
    comps = editor_comparisons(rows)
    flagged = [c for c in comps if c.flagged]
    n_models = len({m["unit"] for m in info.values()})
    sections.append("<h2>Summary</h2>")
    sections.append(
        f"<p>{n_models} trained model{'s' * (n_models != 1)} (world, model, replicate): the "
        "trained model is the unit of replication. One table per metric, one column per split "
        "(splits are never pooled). Each cell: the mean over models of each model's value at the "
        "end of its runs, the 95% Student-t interval over models and the between-model SD, with "
        "the number of models and of items; with 1 model, that model's within-run interval. "
        "Findings per model: "
        + html.escape("; ".join(f"{k}: {f.text}" for k, f in FINDINGS.items()))
        + ' ("holds on k of n models").</p>'
    )
    if flagged or mixed:
        sections.append('<h3 class="flag">Findings that differ between trained models</h3><ul>')
        items = [f'<li class="flag">{html.escape(c.line())}</li>' for c in flagged]
        items += [f"<li>{html.escape(mixed_line(m))}</li>" for m in mixed]
        sections.extend(items[:MAX_LISTED])
        sections.append("</ul>")
        if len(items) > MAX_LISTED:
            sections.append(
                f"<p>{len(flagged)} comparisons change sign and {len(mixed)} findings hold on "
                f"some models only; the first {MAX_LISTED} are listed (sign flips with the "
                "largest mean difference first), every one is in the tables below (comparisons: "
                "column flag; findings: holds on k of n).</p>"
            )
    for t in tables:
        sections.append(f"<h3>{html.escape(t.title)}</h3>")
        sections.append(_table(t.head, t.body, numeric_from=5))
    if comps:
        sections.append("<h2>Comparisons on the same trained models and requests</h2>")
        sections.append(
            "<p>Editor settings that ran on the same trained models and edit requests (same "
            "seeds): the paired difference A - B per model, its mean with the 95% t-interval "
            "over models and SD; the probability that A beats B on a new model (Agarwal et al. "
            "2021, probability of improvement; for forgetting, lower beats), with a bootstrap "
            "interval over models; flagged where the sign of A - B differs between models.</p>"
        )
        head, body = comparison_table(comps)
        sections.append(_table(head, body, numeric_from=6))

    head, body = oracle_table(rows)
    if body:
        sections.append("<h2>Unlearning against the retain oracle</h2>")
        sections.append(
            "<p>The retain oracle: the same model trained without the forget set. Forget quality: "
            "KS test p-value of the forget set's truth ratios against the oracle's (TOFU); "
            "PrivLeak: (AUC - AUC of the oracle) / AUC of the oracle in MUSE's orientation "
            "(forget set labelled 0, non-members 1: an under-unlearned model has a negative "
            "PrivLeak, near -100%; an over-unlearned one a positive PrivLeak); Min-K% with k = "
            "40% of a statement's scored tokens (MUSE's default attack), the LOSS attack beside "
            "it. Non-members here are counterfactual statements (the facts with another object), "
            "not a held-out set. The noise floor: a second oracle (another init and data order) "
            "judged against the first; a figure within it does not tell the run from an "
            "oracle.</p>"
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
            f"{', '.join(plots.DAMAGE_SPLITS)} (one row each, never pooled). Faint: each trained model; "
            "bold with bars: the mean over models and its 95% t-interval over models (1 model: "
            "its within-run interval). Points at the same rank are spread apart slightly.",
        )
    from behemoth.report import rank_width  # here: `python -m` of it must not find it imported

    rw = rank_width.rank_width_data(rows)
    if rank_width.several_widths(rw):
        sections.append("<h2>LoRA rank needed against width and load</h2>")
        sections.append(_table(*rank_width.needed_table(rw), numeric_from=3))
        add_plot(
            "rank-width",
            "Edit success against LoRA rank, per width",
            rank_width.plot_rank_curves(rw),
            "A line per (width, world); faint: each trained model; bold with band: the mean "
            "over models and its 95% t-interval; dashed: full fine-tuning's mean.",
        )
        add_plot(
            "rank-load",
            "Needed rank against facts per parameter and width",
            rank_width.plot_needed_rank(rw),
            f"The smallest rank with edit success >= {rw.threshold:g} per trained model (faint), "
            "their mean over the models reaching it with its 95% t-interval; k/n: models "
            "reaching it; x: no rank does.",
        )
    maps = plots.heatmap_data(rows)
    if maps:
        sections.append("<h2>Where to edit: layer x module</h2>")
        add_plot(
            "heatmaps",
            "Layer x module heatmaps",
            plots.plot_heatmaps(maps),
            "Edit success and remaining accuracy (one map per split) of edits confined to one "
            "layer and module: the mean over trained models.",
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
                f"accuracy on unedited facts < {plots.COLLAPSE_FRACTION:g}x the unedited model's. "
                "One faint line per trained model (rN: replicate N), the mean over models bold "
                "with its 95% t-band over models; 0 edits: the unedited model.",
            )
    unl = plots.unlearning_data(rows)
    if unl:
        sections.append("<h2>Unlearning trade-offs</h2>")
        add_plot(
            "unlearning",
            "Forgetting against retention",
            plots.plot_unlearning(unl),
            f"Share of forgotten facts still answered (split {plots.FORGET_SPLIT}) vs accuracy on "
            f"retained facts (split {plots.RETAIN_SPLIT}): each trained model faint, the mean over "
            "models bold with its 95% t-intervals over models (1 model: its within-run "
            "intervals).",
        )
    if failed:
        sections.append('<h2 class="failed">Failed runs</h2>')
        sections.append(
            _table(
                ["run", "model (world | model | replicate)", "scenario", "editor", "seed", "error"],
                [
                    [
                        k,
                        model_name(v["unit"]),
                        v["scenario"],
                        v["editor"],
                        str(v["seed"]),
                        str(v["error"]),
                    ]
                    for k, v in sorted(failed.items())
                ],
                numeric_from=99,
            )
        )
    doc = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>behemoth report: {html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>behemoth report: {html.escape(title)}</h1>"
        f"<p>{len(info)} runs ({len(failed)} failed) on "
        f"{len({m['unit'] for m in info.values()})} trained models; {len(saved)} plots.</p>"
        + "".join(sections)
        + f"<script>{CHECK_JS}</script></body></html>\n"
    )
    write_bytes(out / "report.html", doc.encode())
    mine = {f"plots/{p.name}" for p in saved}
    for name in earlier:  # plots of an earlier report that this one no longer has
        if name not in mine:
            (out / name).unlink(missing_ok=True)
    write_json(out / WRITTEN, {"files": sorted(mine | {"report.html"})})
    return Report(out / "report.html", saved, len(info), len(failed))
