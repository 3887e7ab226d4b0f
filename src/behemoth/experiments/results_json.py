"""``results.json``: a run's headline in the layout of lm-evaluation-harness' results file.

lm-eval (Gao et al., "A framework for few-shot language model evaluation", EleutherAI) writes
one ``results.json`` per evaluation: ``results`` (task -> metric -> value, with its standard
error), ``n-samples``, ``higher_is_better``, ``config`` and ``versions``. behemoth's is the same
idea for an edit or an evaluation (:mod:`behemoth.experiments.summary`'s headline):

    results           figure -> split -> {pre, post, n, ci_low, ci_high, interval, over, runs}
                      (``over``: what the interval is over: "items" of one run, "seeds" or
                      trained "models" of several runs, then post is the mean over them)
    per_run           with several seeds or replicates: each run's own ``results``, keyed
                      "replicate-R/seed-S" (or "seed-S")
    n-samples         "figure/split" -> prompts (summed over the runs)
    higher_is_better  figure -> true / false ("0.5" for an AUC whose ideal is 0.5)
    config, run_id, seeds, replicates, versions (behemoth, torch, transformers, python)

No time or machine is recorded (``provenance.json`` holds them), so the same config and seed
give the same bytes. Read it with ``json.load`` or ``pandas.json_normalize``.
"""

from __future__ import annotations

from importlib import metadata as md
from pathlib import Path
from typing import Any

from behemoth.experiments.summary import HeadlineRow, headline
from behemoth.io import write_json

#: The file's layout version (bump when a key changes meaning).
FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """The versions of behemoth, torch, transformers and Python that produced the results."""
    import platform

    import behemoth

    out = {"behemoth": behemoth.__version__, "python": platform.python_version()}
    for name in ("torch", "transformers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _results(rows: list[HeadlineRow], *, unedited: bool = False) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = r.to_dict()
        for k in ("name", "group", "split", "better"):
            d.pop(k)
        if unedited:  # nothing was edited: the value is the unedited model's, no pre/post
            d["value"] = d.pop("post")
            d.pop("pre")
        out.setdefault(r.name, {})[r.split] = d
    return out


def results_dict(
    rows: list[dict[str, Any]],
    *,
    config: dict[str, Any],
    seeds: list[Any],
    replicates: int = 1,
    run_id: str | None = None,
    kind: str = "edit",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``results.json`` of record ``rows`` (a run's, every seed and replicate; see the
    module docstring). ``kind``: "edit", or "evaluate" for a model no editor touched (its
    figures carry ``value`` instead of pre and post)."""
    unedited = kind == "evaluate"
    head = headline(rows)
    if unedited:
        head = [r for r in head if r.name != "locality"]
    out: dict[str, Any] = {
        "format": f"behemoth-results/{FORMAT_VERSION}",
        "kind": kind,
        "results": _results(head, unedited=unedited),
        "n-samples": {f"{r.name}/{r.split}": r.n for r in head},
        "higher_is_better": {
            r.name: (r.better == "higher" if r.better in ("higher", "lower") else r.better)
            for r in head
        },
        "config": config,
        "seeds": seeds,
        "replicates": replicates,
        "versions": versions(),
    }
    if run_id is not None:
        out["run_id"] = run_id
    runs = sorted({(r.get("replicate"), r.get("seed")) for r in rows}, key=str)
    if len(runs) > 1:
        per: dict[str, Any] = {}
        for rep, seed in runs:
            mine = [r for r in rows if (r.get("replicate"), r.get("seed")) == (rep, seed)]
            name = (f"replicate-{rep}/" if rep is not None else "") + f"seed-{seed}"
            per[name] = _results(headline(mine), unedited=unedited)
        out["per_run"] = per
    out.update(extra or {})
    return out


def write_edit_results(result: Any, where: Path) -> None:
    """``where/results.json`` of an :class:`~behemoth.experiments.run.ExperimentResult`."""
    cfg = result.config
    write_json(
        Path(where) / "results.json",
        results_dict(
            result.records.rows,
            config=cfg.resolved(),
            seeds=list(cfg.run_seeds()),
            replicates=cfg.replicates,
            run_id=result.run_id,
        ),
    )
