"""``behemoth train-serac``: train SERAC's scope classifier and counterfactual model on a world.

The networks are trained on the retain mix of the scenario they will be evaluated on, which the
scenario builder keeps disjoint from all of its test sets; they are saved (safetensors + JSON)
and reused by every run of that scenario, which checks the disjointness again before editing.
"""

from __future__ import annotations

import argparse

from behemoth.cli.common import add_out_args, add_set_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-serac",
        help="train SERAC's scope classifier and counterfactual model on a scenario's split",
        description="Settings (--set): seed, variant (embedding|cross), width, layers, heads, "
        "embed_dim, steps, batch_edits, lr, cf_weight, cls_weight, scratch_rows, scratch_share, "
        "val_share. Scenario settings (--scenario-set) must be those of the evaluated scenario.",
    )
    p.add_argument("world", metavar="WORLD", help="a world directory (from `behemoth generate`)")
    p.add_argument(
        "--scenario", required=True, help="the scenario whose retain mix is the training split"
    )
    add_set_arg(
        p,
        "a scenario setting KEY=VALUE (repeatable)",
        flag="--scenario-set",
        dest="scenario_overrides",
    )
    add_set_arg(p, "a network/training setting KEY=VALUE (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="seed of weights, tables and pairs")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_out_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from behemoth.config import resolve
    from behemoth.editors.serac.config import SeracNetsConfig
    from behemoth.editors.serac.train import scenario_training_facts, train_nets
    from behemoth.io import atomic_dir
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world.world import World

    cfg = resolve(SeracNetsConfig, None, None, args.overrides, args.seed)
    world = World.load(args.world)
    scenario = build_scenario(world, args.scenario, args.scenario_overrides)
    facts = scenario_training_facts(scenario)
    torch.set_num_threads(max(1, args.threads))
    with atomic_dir(args.out, args.force, marker="serac.json", what="SERAC networks") as tmp:
        split = {"scenario": scenario.config, "source": "retain mix (disjoint from its tests)"}
        nets = train_nets(world, facts, cfg, split, progress=not args.no_progress)
        nets.save(tmp)
    m = nets.metrics
    print(f"serac networks: {cfg.variant} classifier, {len(facts):,} training facts")
    for part in ("train", "held_out_subjects"):
        if part in m:
            v = m[part]
            print(
                f"  {part:<18} precision {v['precision']:.3f}  recall {v['recall']:.3f}  "
                f"counterfactual {v['counterfactual_accuracy']:.3f}"
            )
    print(f"  written to {args.out}")
    return 0
