"""``behemoth edit``: one experiment (a scenario applied by an editor to a model, once per
seed), wired by :func:`behemoth.experiments.run.run_experiment`; see that module for what
``--out`` receives. ``behemoth trace``: causal tracing of one relation (a heatmap).

Settings: ``--editor.rank 8`` (repeatable, values parsed as YAML) and ``--config FILE`` for the
editor; ``--scenario.k 10`` for the scenario (the older ``--set rank=8`` / ``--scenario-set k=10``
still work for one release, with a deprecation note). ``--seed S`` or ``--seeds 0 1 2`` (each
seed sets the scenario's and the editor's). ``--help`` lists every editor's settings without
importing an editor (:mod:`behemoth.cli.listing`).
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from behemoth.cli.common import add_out_args, add_set_arg, int_at_least


def register(sub: argparse._SubParsersAction) -> None:
    from behemoth.cli.listing import editor_names, editors_help

    p = sub.add_parser(
        "edit",
        help="edit a model's weights on a scenario and evaluate the result",
        description=textwrap.fill(
            f"Editors: {', '.join(editor_names())}. Settings: --editor.KEY VALUE and "
            "--scenario.KEY VALUE (values parsed as YAML), e.g. --editor.rank 8 --scenario.k "
            "10; `behemoth editors NAME` / `behemoth scenarios NAME` explain each.",
            100,
        ),
        epilog=editors_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a model directory")
    p.add_argument(
        "--world", default=None, help="the world directory (default: the one the model records)"
    )
    p.add_argument("--scenario", required=True, help="edit scenario (see `behemoth scenarios`)")
    add_set_arg(
        p,
        "deprecated: write --scenario.KEY VALUE",
        flag="--scenario-set",
        dest="scenario_overrides",
    )
    p.add_argument("--editor", required=True, help="the editor (listed below)")
    p.add_argument("--config", default=None, help="a YAML file of editor settings")
    add_set_arg(p, "deprecated: write --editor.KEY VALUE", flag="--set", dest="overrides")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=None, help="seed of the editor and the scenario")
    seeds.add_argument(
        "--seeds",
        type=int_at_least(0),
        nargs="+",
        default=None,
        metavar="S",
        help="repeat the run once per seed; report mean, sd and 95%% interval over seeds",
    )
    p.add_argument(
        "--replicates",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="run on N trained models of MODEL's recipe (each its own init and data order, "
        "trained once under $BEHEMOTH_CACHE); report every number over them",
    )
    p.add_argument(
        "--eval-every",
        type=int_at_least(0),
        default=0,
        help="with several edit batches (a stream), also evaluate after every N batches",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr for streams"
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
        "--kind",
        choices=["hidden", "mlp", "attention", "attn"],
        default="hidden",
        help="state restored: the block output (residual stream), or only the MLP's or only "
        "the attention's output of the layer (Meng et al. 2022, Fig. 1 b/c; attn = attention)",
    )
    t.add_argument("--samples", type=int_at_least(1), default=10, help="noise samples per fact")
    t.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the noise")
    add_out_args(t)
    t.set_defaults(func=run_trace)


def experiment_config(args: argparse.Namespace) -> Any:
    """The :class:`ExperimentConfig` of ``behemoth edit``'s arguments (validated whole)."""
    from behemoth.config import deep_merge, load_yaml, parse_overrides, validate
    from behemoth.experiments.config import ExperimentConfig

    editor = deep_merge(
        load_yaml(args.config) if args.config else {}, parse_overrides(args.overrides)
    )
    scenario = parse_overrides(args.scenario_overrides)
    return validate(
        ExperimentConfig,
        {
            "model": args.model,
            "world": args.world,
            "scenario": args.scenario,
            "scenario_settings": scenario,
            "editor": args.editor,
            "editor_settings": editor,
            "seeds": args.seeds if args.seeds else None if args.seed is None else [args.seed],
            "eval_every": args.eval_every,
            "device": args.device,
            "replicates": args.replicates,
        },
    )


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.experiments.run import run_experiment
    from behemoth.experiments.summary import describe
    from behemoth.io import check_out, out_lock

    # Every name, setting and the output place are checked before a model is loaded, and the
    # lock of --out is taken before anything is computed: a second edit into the same place is
    # refused at once, not after computing the whole edit.
    inputs = {"MODEL": args.model, "--world": args.world}
    check_out(args.out, args.force, "edit.json", inputs=inputs)
    config = experiment_config(args)
    hf_logging.disable_progress_bar()
    with out_lock(args.out):
        check_out(args.out, args.force, "edit.json", inputs=inputs)
        result = run_experiment(
            config, args.out, force=args.force, progress=not args.no_progress, echo=_echo()
        )
    print()
    print(describe(result))
    print(f"  written to {args.out} (results.json: the headline with config and versions)")
    print(f"the HTML report with every table and plot: behemoth report {args.out}")
    return 0


def _echo() -> Any:
    """``print`` for the run's messages, except that a scenario's test-set listing is printed
    once: the next seeds' and replicates' print only its first line."""
    seen: set[str] = set()

    def echo(text: str) -> None:
        head, _, rest = text.partition("\n")
        if text.startswith("scenario ") and rest:
            if rest in seen:
                text = head
            seen.add(rest)
        print(text)

    return echo


def _known_facts(model: Any, world: Any, relation: int) -> int:
    """How many of ``relation``'s ``sro`` probes ``model`` answers correctly (what
    :func:`behemoth.analysis.tracing.trace_relation` traces)."""
    from behemoth.model.scoring import score

    probes = world.probes["sro"]
    sub = probes.subset((probes.relation == relation).nonzero()[0])
    return int(score(model, sub).correct(sub.answer).sum())


def run_trace(args: argparse.Namespace) -> int:
    args.kind = "attn" if args.kind == "attention" else args.kind
    from transformers.utils import logging as hf_logging

    from behemoth.analysis.trace_plot import plot_trace
    from behemoth.analysis.tracing import trace_relation
    from behemoth.cli.evaluate import load_any_model
    from behemoth.errors import BehemothError
    from behemoth.io import atomic_dir, check_out, write_json
    from behemoth.provenance import write_provenance

    check_out(
        args.out, args.force, "trace.json", inputs={"MODEL": args.model, "--world": args.world}
    )
    hf_logging.disable_progress_bar()
    model, world = load_any_model(args.model, args.world)
    if not 0 <= args.relation < world.config.relations:
        raise BehemothError(
            f"--relation: {args.relation} is not a relation of this world; "
            f"choose 0..{world.config.relations - 1}"
        )
    # trace_relation traces at most the relation's facts the model knows: never more than its
    # probes (the progress total), and the user hears of any shortfall (below)
    facts = min(args.facts, int((world.probes["sro"].relation == args.relation).sum()))
    # progress by forward passes: each traced fact runs 2 + one per layer (a bar on a
    # terminal, a line every 10 s in a pipe); the few passes that find known facts come first
    from behemoth.model.layers import resolve_paths
    from behemoth.progress import bar

    layers = resolve_paths(model).n_layers(model)
    passes = bar(total=facts * (2 + layers), desc="trace", unit="pass")
    hook = model.register_forward_hook(lambda *_: passes.update(1))
    try:
        res = trace_relation(
            model,
            world,
            args.relation,
            n_facts=args.facts,
            kind=args.kind,
            samples=args.samples,
            seed=args.seed,
        )
    except (ValueError, IndexError):  # nothing to stack: the model knows none of the facts?
        if _known_facts(model, world, args.relation) == 0:
            raise BehemothError(
                f"--relation: the model knows none of relation {args.relation}'s {facts} facts "
                "(sro probes), so there is nothing to trace; train it longer or pick another "
                "relation"
            ) from None
        raise
    finally:
        hook.remove()
        passes.close()
    if res.n_facts < args.facts:
        import logging

        logging.getLogger("behemoth.trace").warning(
            f"trace: --facts {args.facts}: relation {args.relation} has {res.n_facts} facts "
            f"the model knows (of {facts} probed), so {res.n_facts} were traced"
        )
    with atomic_dir(
        args.out,
        force=args.force,
        marker="trace.json",
        inputs={"MODEL": args.model, "--world": args.world},
    ) as tmp:
        plot_trace(
            res.effect,
            res.tokens,
            tmp / "trace.png",
            kind=args.kind,
            title=f"relation {args.relation}: {res.n_facts} facts, P clean {res.clean:.3f}, "
            f"corrupted {res.corrupted:.3f}",
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
