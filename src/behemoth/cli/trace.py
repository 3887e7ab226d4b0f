"""``behemoth trace``: causal tracing of one relation (a heatmap of which layer and token carry
its facts; Meng et al. 2022, sec. 2.1), with :func:`behemoth.analysis.tracing.trace_relation`."""

from __future__ import annotations

import argparse
from typing import Any

from behemoth.cli.common import add_out_args, int_at_least


def register(sub: argparse._SubParsersAction) -> None:
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
    import numpy as np

    from behemoth.model.layers import resolve_paths
    from behemoth.progress import bar

    layers = resolve_paths(model).n_layers(model)
    probes = world.probes["sro"]
    rel_probes = probes.subset(np.flatnonzero(probes.relation == args.relation))
    # trace_relation's scoring batches (ProbeSet.batches: one per 1024 prompts of one length)
    finding = sum(-(-int(c) // 1024) for c in np.unique(rel_probes.lengths, return_counts=True)[1])
    passes = bar(total=finding + facts * (2 + layers), desc="trace", unit="pass")
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
