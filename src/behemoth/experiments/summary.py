"""What ``behemoth edit`` and ``behemoth evaluate`` print: one screen, the full tables in files.

The headline (:func:`headline`): per split, the figures EasyEdit reports (Yao et al. 2023,
"Editing Large Language Models: Problems, Methods, and Opportunities", EMNLP, Sec. 2.2) and
the unlearning ones: efficacy (edited prompts), generalization (their paraphrases), specificity
and locality (facts that must not move: the world's answer kept; the unedited model's answer
kept), portability (facts implied by an edit), forgetting (facts still answered after
unlearning, lower is better) and membership (MUSE-style loss AUC, 0.5 = indistinguishable).
Each is the share of prompts whose top-1 answer is the one named in the legend, pre-edit (the
unedited model) and post-edit side by side, with n and the 95% interval of the post value by
the method its row names (``interval``; :mod:`behemoth.evaluation.uncertainty`).

Several runs (``--seeds``, ``--replicates``) print one table: the mean over runs and its
Student-t 95% interval over seeds (:func:`behemoth.evaluation.uncertainty.over_seeds`) or over
trained models (:func:`behemoth.replicates.across_models`, each model's value first averaged
over its seeds: the models are the independent units), labelled with what it is over.

Streams add a per-checkpoint table (retention, unedited-fact accuracy; at most
:data:`MAX_CHECKPOINTS` rows, all of them in ``sequential.parquet``). Every other row is in
``records.parquet`` / ``items.parquet`` (``behemoth.results.load``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

#: The headline: (printed name, test group, metric, better: "higher" / "lower" / "0.5").
HEADLINE: tuple[tuple[str, str, str, str], ...] = (
    ("efficacy", "efficacy", "efficacy", "higher"),
    ("generalization", "generalization", "generalization", "higher"),
    ("specificity", "specificity", "specificity", "higher"),
    ("locality", "specificity", "locality", "higher"),
    ("portability", "portability", "portability", "higher"),
    ("forgetting", "forgetting", "forget_accuracy", "lower"),
    ("membership", "membership", "membership_auc", "0.5"),
)
#: What each headline figure is (the legend names only those printed).
LEGEND = {
    "efficacy": "efficacy = top-1 answer is the new object on the edited prompts",
    "generalization": "generalization = the same on their paraphrases",
    "specificity": "specificity = still the world's answer on facts that must not move",
    "locality": "locality = still the unedited model's answer there (pre: 1 by definition)",
    "portability": "portability = the implied new answer on facts implied by an edit",
    "forgetting": "forgetting = still the old object on facts to forget",
    "membership": "membership = loss AUC of forgotten vs unseen facts (0.5 = forgotten)",
}
#: What an unedited model's figure measures, per group (``behemoth evaluate``).
MEASURED = {
    "efficacy": "answers the request's new object",
    "generalization": "answers the request's new object",
    "specificity": "answers the world's answer",
    "portability": "answers the implied new answer",
    "forgetting": "answers the object to forget",
    "membership": "loss AUC, to-forget vs unseen",
}
#: At most this many checkpoints are printed per stream (first, last, evenly spaced between).
MAX_CHECKPOINTS = 12


@dataclass
class HeadlineRow:
    """One headline figure on one split: pre and post, n, the post value's 95% interval and
    its method; ``over`` says what the interval is over ("items", "seeds" or "models"),
    ``runs`` how many runs it combines and ``n`` their prompts (summed over the runs)."""

    name: str
    group: str
    metric: str
    split: str
    better: str
    pre: float | None
    post: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    interval: str
    over: str = "items"
    runs: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _f(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan" if digits == 4 else "-"
    return f"{v:.{digits}f}"


def final_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of each run's last checkpoint (largest ``batches_applied``; a run is a
    (replicate, seed) pair)."""
    last: dict[Any, int] = {}
    for r in rows:
        key = (r.get("replicate"), r.get("seed"))
        last[key] = max(last.get(key, 0), r.get("batches_applied") or 0)
    return [
        r
        for r in rows
        if (r.get("batches_applied") or 0) == last[(r.get("replicate"), r.get("seed"))]
    ]


def headline(rows: list[dict[str, Any]]) -> list[HeadlineRow]:
    """The headline of a run's record rows (every seed and replicate): per figure and split, in
    :data:`HEADLINE` order. One run: its rows as they are (the interval over items). Several
    seeds on one model: the mean over seeds and the t interval over seeds. Several trained
    models: each model's mean over its seeds, then the mean and t interval over models."""
    from behemoth.evaluation.uncertainty import over_seeds

    rows = [r for r in final_rows(rows) if r.get("value") is not None]
    runs = sorted({(r.get("replicate") or 0, r.get("seed")) for r in rows}, key=str)
    models = sorted({rep for rep, _ in runs})
    out: list[HeadlineRow] = []
    for name, group, metric, better in HEADLINE:
        mine = [r for r in rows if r["group"] == group and r["metric"] == metric]
        for split in dict.fromkeys(r["split"] for r in mine):
            post = [r for r in mine if r["split"] == split and r.get("phase", "post") == "post"]
            pre = [r for r in mine if r["split"] == split and r.get("phase") == "pre"]
            if not post:
                continue
            n = sum(int(r.get("n") or 0) for r in post)
            pre_v = _mean([float(r["value"]) for r in pre]) if pre else None
            if len(runs) == 1:
                r = post[0]
                lo, hi, how, over = r.get("ci_low"), r.get("ci_high"), r.get("interval"), "items"
                value: float | None = float(r["value"])
            elif len(models) == 1:
                s = over_seeds(post, keys=("metric",))[0]
                value, lo, hi, how, over = (
                    s["mean"],
                    s["ci_low"],
                    s["ci_high"],
                    s["interval"],
                    "seeds",
                )
            else:
                value, lo, hi, how = _over_models(post)
                over = "models"
            out.append(
                HeadlineRow(
                    name, group, metric, split, better, pre_v, value, n, lo, hi,
                    str(how or "-"), over, len(post),
                )
            )  # fmt: skip
    return out


def _mean(v: list[float]) -> float:
    ok = [x for x in v if not math.isnan(x)]
    return sum(ok) / len(ok) if ok else float("nan")


def _over_models(post: list[dict[str, Any]]) -> tuple[float, float, float, str]:
    """Mean and 95% t interval over trained models of each model's mean over its seeds."""
    from behemoth.replicates import across_models

    by: dict[int, list[float]] = {}
    for r in post:
        by.setdefault(int(r.get("replicate") or 0), []).append(float(r["value"]))
    family = post[0].get("family")
    bounds = (0.0, 1.0) if family in ("accuracy", "probability") else None
    est = across_models([_mean(by[k]) for k in sorted(by)], bounds=bounds)
    return est.value, est.lo, est.hi, est.method


def headline_table(rows: list[HeadlineRow], *, unedited: bool = False) -> str:
    """The headline as text: one line per figure and split (pre and post side by side, n, the
    interval and its method); ``unedited``: a model no editor touched (``behemoth evaluate``),
    whose figures are named by what they measure, without "post"/"efficacy"."""
    if not rows:
        return "(no headline figure: every record is in records.parquet)"
    many = rows[0].runs > 1
    if unedited:
        head = f"{'test set':<32} {'measured':<34} {'value':>6} {'95% interval':>16} {'n':>5}  interval"
    else:
        mean = "mean " if many else ""
        head = (
            f"{'':<15} {'split':<26} {'better':<6} {mean + 'pre':>9} {mean + 'post':>10} "
            f"{'95% interval':>16} {'n':>5}  interval"
        )
    lines = [head, "-" * len(head)]
    for r in rows:
        ci = (
            "-"
            if r.ci_low is None
            or r.ci_high is None
            or math.isnan(r.ci_low)
            or math.isnan(r.ci_high)
            else f"[{_f(r.ci_low, 3)}, {_f(r.ci_high, 3)}]"
        )
        if unedited:
            what = MEASURED.get(r.group, r.metric)
            lines.append(
                f"{r.group + '/' + r.split:<32} {what:<34} {_f(r.post, 3):>6} {ci:>16} {r.n:>5}  {r.interval}"
            )
        else:
            lines.append(
                f"{r.name:<15} {r.split:<26} {r.better:<6} {_f(r.pre, 3):>9} {_f(r.post, 3):>10} "
                f"{ci:>16} {r.n:>5}  {r.interval}"
            )
    return "\n".join(lines)


def legend(rows: list[HeadlineRow], *, unedited: bool = False) -> str:
    """The legend under a headline table (what each figure is, pre/post, n, the interval)."""
    if unedited:
        return (
            "legend: share of each test set's prompts whose top-1 answer is the one named, on "
            "the unedited model (an edit's pre-edit values); n = prompts; 95% interval by the "
            "method named"
        )
    over = rows[0].over if rows else "items"
    k = rows[0].runs if rows else 1
    what = {
        "items": "95% interval of post over the test set's items by the method named",
        "seeds": f"mean over {k} seeds; 95% interval of post: Student t over seeds",
        "models": f"mean over {k} runs on trained models (each model's seeds averaged first); "
        "95% interval of post: Student t over models",
    }[over]
    names = [LEGEND[n] for n in dict.fromkeys(r.name for r in rows) if n in LEGEND]
    return (
        f"legend: shares of prompts; {'; '.join(names)}. pre = unedited model, post = edited; "
        f"better = the good direction; n = prompts (summed over runs); {what}"
    )


def checkpoint_table(seq_rows: list[dict[str, Any]]) -> str:
    """Per checkpoint: retention and unedited-fact accuracy with n and Wilson intervals."""
    head = (
        f"{'edits':>6} {'retention':>9} {'95% interval':>18} {'n':>5}  "
        f"{'unedited acc':>12} {'95% interval':>18} {'n':>7}  {'max |W-W0|/numel':>16}"
    )
    lines = [head, "-" * len(head)]
    by: dict[int, dict[str, Any]] = {}
    for r in seq_rows:
        c = by.setdefault(r["edits_applied"], {"dist": float("nan")})
        if r["measure"] == "retention" and r["split"] == "edits_so_far":
            c["ret"] = r
        elif r["measure"] == "unedited_accuracy":
            c["acc"] = r
        elif r["measure"] == "weight_distance_per_numel":
            c["dist"] = r["value"] if math.isnan(c["dist"]) else max(c["dist"], r["value"])
    for k in sorted(by):
        c = by[k]
        ret, acc = c.get("ret"), c.get("acc")
        if acc is None:
            continue
        rs = (
            f"{_f(ret['value']):>9} {'[' + _f(ret['ci_low']) + ', ' + _f(ret['ci_high']) + ']':>18} "
            f"{ret['n']:>5}"
            if ret
            else f"{'-':>9} {'-':>18} {'-':>5}"
        )
        lines.append(
            f"{k:>6} {rs}  {_f(acc['value']):>12} "
            f"{'[' + _f(acc['ci_low']) + ', ' + _f(acc['ci_high']) + ']':>18} {acc['n']:>7}  "
            f"{_f(c['dist']) if not math.isnan(c['dist']) else '-':>16}"
        )
    return "\n".join(lines)


def seeds_table(summary: list[dict[str, Any]]) -> str:
    """Mean, sd and the 95% t interval over seeds (n = seeds) of each final number, with the
    interval's method (clipped to a share's bounds; degenerate cases named)."""
    head = (
        f"{'metric':<24} {'split':<28} {'phase':<5} {'mean':>8} {'sd':>8} "
        f"{'95% interval':>21} {'n seeds':>7}  interval"
    )
    lines = [head, "-" * len(head)]
    last = max((r.get("batches_applied") or 0 for r in summary), default=0)
    for r in summary:
        if (r.get("batches_applied") or 0) != last or r["group"] == "cost":
            continue
        no_ci = any(r[k] is None or math.isnan(r[k]) for k in ("ci_low", "ci_high"))
        ci = "-" if no_ci else f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
        lines.append(
            f"{r['metric']:<24} {r['split']:<28} {r['phase'] or '':<5} {_f(r['mean']):>8} "
            f"{_f(r['sd']):>8} {ci:>21} {r['n_seeds']:>7}  {r.get('interval') or 't over seeds'}"
        )
    return "\n".join(lines)


def _thin(seq_rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The rows of at most :data:`MAX_CHECKPOINTS` checkpoints (first, last and evenly spaced
    between) and how many checkpoints there were."""
    marks = sorted({r["edits_applied"] for r in seq_rows if r["measure"] == "unedited_accuracy"})
    if len(marks) <= MAX_CHECKPOINTS:
        return seq_rows, len(marks)
    step = (len(marks) - 1) / (MAX_CHECKPOINTS - 1)
    keep = {marks[round(i * step)] for i in range(MAX_CHECKPOINTS)}
    return [r for r in seq_rows if r["edits_applied"] in keep], len(marks)


def describe(result: Any) -> str:
    """The printed summary of an :class:`~behemoth.experiments.run.ExperimentResult`: one
    header line, the headline table and its legend, for a stream its checkpoints, and the
    detection results (once when every run agrees)."""
    cfg = result.config
    runs = result.runs
    first = runs[0]
    seeds = sorted({sr.seed for sr in runs}, key=str)
    reps = sorted({sr.replicate for sr in runs})
    scen = first.scenario
    over = []
    if len(reps) > 1:
        over.append(f"{len(reps)} trained models")
    if len(seeds) > 1:
        over.append(f"seeds {', '.join(str(s) for s in seeds)}")
    elif seeds[0] is not None:
        over.append(f"seed {seeds[0]}")
    parts = [
        f"run {result.run_id}: {cfg.editor} on {scen.name}, {len(scen.requests)} requests in "
        f"{len(scen.batches)} batch(es); {'; '.join(over)}"
    ]
    rows = headline(result.records.rows)
    parts += [headline_table(rows), _wrap(legend(rows))]
    streams = [sr for sr in runs if len(sr.scenario.batches) > 1]
    if streams:
        sr = streams[0]
        seq, total = _thin(sr.tracker.rows)
        label = f"seed {sr.seed}" + (f", replicate {sr.replicate}" if len(reps) > 1 else "")
        shown = f"{MAX_CHECKPOINTS} of {total} checkpoints, " if total > MAX_CHECKPOINTS else ""
        others = " (the other runs' too)" if len(streams) > 1 else ""
        parts.append(
            f"\nstream ({label}; {shown}every one in sequential.parquet{others}):\n"
            + checkpoint_table(seq)
        )
    texts = [sr.tracker.describe() for sr in runs]
    if len(set(texts)) == 1:
        parts.append(("every run: " if len(runs) > 1 else "") + texts[0])
    else:
        for sr, text in zip(runs, texts):
            rep = f"replicate {sr.replicate}, " if len(reps) > 1 else ""
            parts.append(f"{rep}seed {sr.seed}: {text}")
    parts.append(
        "every metric (scores, magnitudes, probability differences, per-seed rows, costs) is in "
        "records.parquet and items.parquet (behemoth.results.load)"
    )
    return "\n".join(parts)


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, 100, subsequent_indent="  ")


def describe_unedited(records: Any, scenario: Any, model: str) -> str:
    """What ``behemoth evaluate`` prints for a model no editor touched: the probe sets'
    accuracy and the scenario's test sets, each named by what it measured."""
    probe = [r for r in records.rows if r["metric"] == "probe_accuracy"]
    lines = [
        f"unedited model {model}: probe_accuracy on the world's probe sets (share whose top-1 "
        "token is the world's answer)",
        f"{'probe set':<32} {'accuracy':>8} {'95% interval':>16} {'n':>6}  interval",
    ]
    lines.append("-" * len(lines[-1]))
    for r in probe:
        ci = f"[{_f(r.get('ci_low'), 3)}, {_f(r.get('ci_high'), 3)}]"
        lines.append(
            f"{r['split']:<32} {_f(r['value'], 3):>8} {ci:>16} {r['n']:>6}  {r.get('interval') or '-'}"
        )
    rows = headline(records.rows)
    rows = [r for r in rows if r.name != "locality"]  # locality compares with the model itself
    lines += [
        "",
        f"scenario {scenario.name}: its {len(scenario.requests)} requests' test sets on the "
        "unedited model (what an edit starts from)",
        headline_table(rows, unedited=True),
        _wrap(legend(rows, unedited=True)),
    ]
    return "\n".join(lines)
