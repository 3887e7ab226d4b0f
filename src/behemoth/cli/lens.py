"""``behemoth lens MODEL``: the logit lens over layers (nostalgebraist 2020).

Each layer's residual stream at the last prompt position decoded by the final layer norm and
the unembedding (:mod:`behemoth.analysis.lens`): per layer, the true object's mean probability,
the share of facts where it is the top-1 token (Wilson 95% interval) and its median rank, over
a seeded sample of the world's probe facts. ``--out`` keeps ``lens.json`` (every fact's
probability and rank per layer) and ``lens.png``.
"""

from __future__ import annotations

import argparse
import textwrap

from behemoth.cli.common import add_out_args, int_at_least


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lens",
        help="logit lens: what each layer's residual stream already predicts",
        description="Decode each layer's residual stream at the last prompt position with the "
        "model's final layer norm and unembedding (nostalgebraist 2020) and report, per layer, "
        "the true object's probability, top-1 share and rank over probe facts.",
    )
    p.add_argument("model", metavar="MODEL", help="a model directory")
    p.add_argument("--world", default=None, help="the world directory (default: the model's)")
    p.add_argument(
        "--template", default=None, help="probe set to read (default: the trained one, e.g. sro)"
    )
    p.add_argument("--facts", type=int_at_least(1), default=200, help="facts sampled (default 200)")
    p.add_argument("--relation", type=int_at_least(0), default=None, help="only this relation")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the sample")
    p.add_argument("--batch-size", type=int_at_least(1), default=256, help="prompts per pass")
    add_out_args(p, required=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.analysis.lens import lens_probes
    from behemoth.cli.evaluate import load_any_model
    from behemoth.errors import BehemothError
    from behemoth.io import atomic_dir, check_out, write_json
    from behemoth.progress import bar
    from behemoth.provenance import write_provenance

    inputs = {"MODEL": args.model, "--world": args.world}
    if args.out:
        check_out(args.out, args.force, "lens.json", inputs=inputs)
    hf_logging.disable_progress_bar()
    model, world = load_any_model(args.model, args.world)
    if args.relation is not None and args.relation >= world.config.relations:
        raise BehemothError(
            f"--relation: {args.relation} is not a relation of this world; "
            f"choose 0..{world.config.relations - 1}"
        )
    template = args.template
    if template is None:
        from behemoth.model.evaluate import default_target

        template = default_target(world.probes)
    total = min(args.facts, len(world.probes[template])) if template in world.probes else 0
    passes = bar(total=total, desc="lens", unit="fact")
    try:
        res = lens_probes(
            model,
            world,
            template,
            n_facts=args.facts,
            relation=args.relation,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=passes,
        )
    finally:
        passes.close()
    what = f"relation {args.relation}" if args.relation is not None else "all relations"
    title = f"logit lens: {res.n} facts of probe set {template} ({what}), last prompt position"
    print(title)
    print(res.table())
    print(
        textwrap.fill(
            "legend: P(true) = mean probability of the true object when the layer's residual "
            "stream is decoded by the final layer norm + unembedding; top-1 = share of facts where "
            "it is the top token (Wilson 95% interval); rank 0 = top; the last layer is the model's "
            "own output",
            100,
            subsequent_indent="  ",
        )
    )
    if args.out:
        with atomic_dir(args.out, force=args.force, marker="lens.json") as tmp:
            from behemoth.analysis.lens_plot import plot_lens

            summary = res.summary()
            plot_lens(summary, tmp / "lens.png", title=title)
            write_json(
                tmp / "lens.json",
                {
                    "template": template,
                    "relation": args.relation,
                    "seed": args.seed,
                    "layers": res.layers,
                    "summary": summary,
                    "answers": res.answers.tolist(),
                    "prob": res.prob.tolist(),
                    "rank": res.rank.tolist(),
                    "top1": res.top1.tolist(),
                },
            )
            write_provenance(tmp)
        print(f"  written to {args.out}: lens.json (every fact per layer), lens.png")
    return 0
