"""The printed summary of a sweep or run: one screen, the same numbers as the HTML report.

``behemoth report`` prints it; a sweep or the demo can print it too (:func:`summary_text` takes
the rows of ``results.parquet`` as :func:`behemoth.report.data.load_rows` gives them). Per
setting: edit success on the edited prompt, kept facts on one unedited split and, for forget
scenarios, what is still answered, each as the estimate over trained models with "holds on k
of n models"; then every finding that differs between trained models: comparisons whose sign
flips between models (:mod:`behemoth.report.compare`) and thresholds met on some models only.
"""

from __future__ import annotations

from typing import Any

from behemoth.report.compare import editor_comparisons
from behemoth.report.data import (
    RunValue,
    cell_text,
    load_rows,
    ok_rows,
    runs,
    setting_cell,
    splits_of,
)

#: (what, metric, group, preferred splits): the lines printed per setting (first split found).
PRINTED: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("edit success", "efficacy", "efficacy", ("sro",)),
    ("kept facts", "specificity", "specificity", ("same_relation", "other", "same_subject")),
    ("still answered", "forget_accuracy", "forgetting", ("forgotten",)),
)
#: At most this many settings and flagged findings are printed (the rest: in the report).
MAX_SETTINGS = 8
MAX_FLAGGED = 10


def summary_text(rows: list[dict[str, Any]], title: str = "") -> str:
    """The one-screen summary of ``rows`` (see the module docstring), ending with a hint of
    where the full tables are."""
    info = runs(rows)
    failed = [m for m in info.values() if m["status"] != "ok"]
    ok = ok_rows(rows)
    n_models = len({m["unit"] for m in info.values()})
    lines = [
        f"behemoth summary{': ' + title if title else ''}: {len(info)} runs "
        f"({len(failed)} failed) on {n_models} trained model{'s' * (n_models != 1)}",
        "each: mean over models [95% t-interval over models] sd (models, items); "
        "1 model: its within-run interval",
    ]
    groups: dict[tuple[str, ...], list[str]] = {}
    for rid, m in sorted(runs(ok).items()):
        groups.setdefault((m["scenario"], m["world"], m["model"], m["editor"]), []).append(rid)
    groups = dict(sorted(groups.items()))
    cache: dict[tuple[str, str | None, str, str], dict[str, RunValue]] = {}
    chosen = []
    for what, metric, group, prefer in PRINTED:
        have = splits_of(ok, metric, group)
        split = next((s for s in prefer if s in have), have[0] if have else None)
        if split is not None:
            chosen.append((what, metric, group, split))
    mixed = []
    for i, (key, rids) in enumerate(groups.items()):
        parts = []
        for what, metric, group, split in chosen:
            est, kn, f = setting_cell(ok, info, metric, group, split, rids, cache)
            text = cell_text(est)
            if text == "-":
                continue
            if kn is not None and f is not None:
                text += f"; {f.text} on {kn[0]} of {kn[1]}"
                if 0 < kn[0] < kn[1]:
                    mixed.append(
                        f"{' | '.join(key)}: {what} ({split}): {f.text} on {kn[0]} of {kn[1]} models"
                    )
            parts.append(f"    {what} ({split}): {text}")
        if i < MAX_SETTINGS and parts:
            lines.append(f"{' | '.join(key)} ({len(rids)} runs)")
            lines.extend(parts)
    if len(groups) > MAX_SETTINGS:
        lines.append(f"... {len(groups) - MAX_SETTINGS} more settings: see the report's tables")
    flagged = [c for c in editor_comparisons(ok) if c.flagged]
    if flagged or mixed:
        lines.append(
            f"FLAGGED: findings that differ between trained models ({len(flagged)} comparisons "
            f"change sign, {len(mixed)} thresholds hold on some models only):"
        )
        shown = [f"  ! {c.line()}" for c in flagged] + [f"  ~ {m}" for m in mixed]
        lines.extend(shown[:MAX_FLAGGED])
        if len(shown) > MAX_FLAGGED:
            lines.append(f"  ... {len(shown) - MAX_FLAGGED} more in the report")
    for m in failed[:3]:
        lines.append(
            f"failed: {m['world']} | {m['model']} | replicate {m['replicate']} | "
            f"{m['scenario']} | {m['editor']}: {str(m['error']).splitlines()[0][:120]}"
        )
    if len(failed) > 3:
        lines.append(f"... {len(failed) - 3} more failed runs in the report")
    return "\n".join(lines)


def summary_of(source: Any) -> str:
    """:func:`summary_text` of a sweep or run directory."""
    rows, title = load_rows(source)
    return summary_text(rows, title)
