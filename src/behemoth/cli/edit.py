"""``behemoth edit``: apply a weight editor to a model on a scenario; write the edited model and
the evaluation records. ``behemoth trace``: causal tracing of one relation (a heatmap).

Output of ``edit`` (``--out DIR``)::

    model/            the edited model as a Hugging Face directory (+ the original's behemoth
                      metadata, so `behemoth evaluate DIR/model` works); with an unmerged LoRA
                      adapter: adapter/ (PEFT format) instead
    records.*         the evaluation records of the scenario (see behemoth.evaluation)
    editor.yaml       the fully resolved editor config (reusable with --config)
    edit.json         editor, scenario, per-batch log, per-matrix delta norms and ranks
    measurements.json what measures the machine, not the edit: wall time and memory of each
                      batch and of the preparation, and the records' cost rows of time/memory
                      (the only files besides provenance.json that differ between two runs)
    provenance.json
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from behemoth.cli.common import add_out_args, add_set_arg, int_at_least


def register(sub: argparse._SubParsersAction) -> None:
    from behemoth.editors import editor_names

    p = sub.add_parser(
        "edit",
        help="edit a model's weights on a scenario and evaluate the result",
        description=f"Editors: {', '.join(editor_names())}.",
    )
    p.add_argument("model", metavar="MODEL", help="a model directory")
    p.add_argument(
        "--world", default=None, help="the world directory (default: the one the model records)"
    )
    p.add_argument(
        "--scenario", required=True, help="edit scenario (see `behemoth evaluate --help`)"
    )
    add_set_arg(
        p,
        "override one scenario setting (repeatable)",
        flag="--scenario-set",
        dest="scenario_overrides",
    )
    p.add_argument("--editor", required=True, help="the editor")
    p.add_argument("--config", default=None, help="a YAML file of editor settings")
    add_set_arg(
        p,
        "override one editor setting (repeatable; values parsed as YAML)",
        flag="--set",
        dest="overrides",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the editor and the scenario")
    p.add_argument(
        "--eval-every",
        type=int_at_least(0),
        default=0,
        help="with several edit batches (a stream), also evaluate after every N batches",
    )
    add_out_args(p)
    p.set_defaults(func=run)

    t = sub.add_parser(
        "trace", help="causal tracing: which layer and token carry a relation's facts"
    )
    t.add_argument("model", metavar="MODEL", help="a model directory")
    t.add_argument("--world", default=None, help="the world directory (default: the model's)")
    t.add_argument("--relation", type=int_at_least(0), default=0, help="relation index")
    t.add_argument("--facts", type=int_at_least(1), default=20, help="known facts to average over")
    t.add_argument(
        "--kind", choices=["hidden", "mlp", "attn"], default="hidden", help="state restored"
    )
    t.add_argument("--samples", type=int_at_least(1), default=10, help="noise samples per fact")
    t.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the noise")
    add_out_args(t)
    t.set_defaults(func=run_trace)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.cli.evaluate import load_any_model
    from behemoth.config import resolve
    from behemoth.editors import editor_config, editor_names
    from behemoth.editors.deltas import delta_norms, exact_deltas
    from behemoth.editors.registry import build_editor
    from behemoth.evaluation.cost import split_measurements
    from behemoth.evaluation.evaluate import reference_scores
    from behemoth.experiments.editing import run_edit
    from behemoth.io import atomic_dir, check_out, write_json
    from behemoth.provenance import write_provenance
    from behemoth.scenarios.scenario import build_scenario, get_scenario

    # Every name, setting and the output place are checked before a model is loaded.
    check_out(args.out, args.force, "edit.json")
    cfg = editor_config(args.editor, None, args.config, args.overrides, args.seed)
    spec = get_scenario(args.scenario)
    resolve(spec.config, None, None, args.scenario_overrides, args.seed)
    hf_logging.disable_progress_bar()
    model, world = load_any_model(args.model, args.world)
    scenario = build_scenario(world, args.scenario, args.scenario_overrides, args.seed)
    print(scenario.summary())
    editor = build_editor(args.editor, cfg)
    t0 = time.perf_counter()
    editor.prepare(model, world)
    prepare_s = time.perf_counter() - t0
    ref = reference_scores(model, scenario)
    run_name = f"{args.editor}:{Path(args.model).resolve().name}"
    edit_run = run_edit(
        model, world, scenario, editor, ref, run=run_name, eval_every=args.eval_every
    )
    result, rec, batches = edit_run.result, edit_run.records, edit_run.batches
    current: Any = result.model
    # the whole run's change (the result's deltas are the last batch's); a wrapper changes none
    if result.artifact == "wrapper":
        deltas = {}
    else:
        deltas = exact_deltas(
            model, result.model if result.artifact == "model" else _merged(result.model)
        )
    print()
    print(rec.table())
    # Results are byte-identical for the same inputs and seed; time and memory go apart.
    rec.rows, batches, measured = split_measurements(rec.rows, batches)
    measured["prepare_seconds"] = prepare_s
    with atomic_dir(args.out, force=args.force, marker="edit.json") as tmp:
        rec.write(tmp)
        write_json(tmp / "measurements.json", measured)
        if result.artifact != "model":  # an unmerged adapter, a wrapper's memory
            current.save_pretrained(str(tmp / result.artifact))
        else:
            current.save_pretrained(str(tmp / "model"))
            _copy_meta(Path(args.model), world, tmp / "model")
        (tmp / "editor.yaml").write_text(cfg.to_yaml())
        write_json(
            tmp / "edit.json",
            {
                "editor": args.editor,
                "config": cfg.to_dict(),
                "scenario": scenario.config,
                "model": str(Path(args.model).resolve()),
                "world": world.fingerprint,
                "batches": batches,
                "deltas": delta_norms(model, deltas),
                "editors_available": editor_names(),
            },
        )
        write_provenance(tmp, {"seconds": round(time.perf_counter() - t0, 3)})
    print(f"  written to {args.out}")
    return 0


def _merged(model: Any) -> Any:
    import copy

    return copy.deepcopy(model).merge_and_unload()


def _copy_meta(src: Path, world: Any, dst: Path) -> None:
    """The original's behemoth metadata and the world's tokenizer, so the directory loads alike."""
    for name in (
        "behemoth_model.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ):
        for where in (src, Path(world.path)):
            if (where / name).is_file():
                shutil.copy2(where / name, dst / name)
                break


def run_trace(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.analysis.trace_plot import plot_trace
    from behemoth.analysis.tracing import trace_relation
    from behemoth.cli.evaluate import load_any_model
    from behemoth.errors import BehemothError
    from behemoth.io import atomic_dir, check_out, write_json
    from behemoth.provenance import write_provenance

    check_out(args.out, args.force, "trace.json")
    hf_logging.disable_progress_bar()
    model, world = load_any_model(args.model, args.world)
    if not 0 <= args.relation < world.config.relations:
        raise BehemothError(
            f"--relation: {args.relation} is not a relation of this world; "
            f"choose 0..{world.config.relations - 1}"
        )
    res = trace_relation(
        model,
        world,
        args.relation,
        n_facts=args.facts,
        kind=args.kind,
        samples=args.samples,
        seed=args.seed,
    )
    with atomic_dir(args.out, force=args.force, marker="trace.json") as tmp:
        plot_trace(
            res.effect,
            res.tokens,
            tmp / "trace.png",
            kind=args.kind,
            title=f"relation {args.relation}: {res.n_facts} facts, P clean {res.clean:.2f}, "
            f"corrupted {res.corrupted:.2f}",
        )
        write_json(
            tmp / "trace.json",
            {
                "relation": args.relation,
                "kind": res.kind,
                "tokens": res.tokens,
                "effect": res.effect.tolist(),
                "restored": res.restored.tolist(),
                "clean": res.clean,
                "corrupted": res.corrupted,
                "facts": res.n_facts,
            },
        )
        write_provenance(tmp)
    best = divmod(int(res.effect.argmax()), res.effect.shape[1])
    print(
        f"strongest {args.kind} effect {res.effect.max():.3f} at token {res.tokens[best[0]]!r}, layer {best[1]}"
    )
    print(f"  written to {args.out}")
    return 0
