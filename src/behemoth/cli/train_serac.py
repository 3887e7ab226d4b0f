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
    add_out_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


#: Printed share -> the count it is taken over (see ``behemoth.editors.serac.train.validate``).
SHARES = {
    "precision": "n_predicted",
    "recall": "n_positive",
    "false_positive_rate": "n_negative",
    "false_positive_rate_same_subject": "n_negative_same_subject",
    "false_positive_rate_same_relation": "n_negative_same_relation",
    "false_positive_rate_random": "n_negative_random",
    "counterfactual_accuracy": "n_counterfactual",
}


def classifier_table(metrics: dict[str, dict[str, float]]) -> str:
    """Per part (train, held-out subjects): each share with its 95% Wilson interval and n."""
    from behemoth.evaluation.uncertainty import wilson

    lines = [f"  {'part':<18} {'measure':<34} {'value':>5} {'95% interval':>16} {'n':>7}"]
    for part in ("train", "held_out_subjects"):
        for key, count in SHARES.items():
            if part not in metrics or key not in metrics[part]:
                continue
            v, n = metrics[part][key], int(metrics[part].get(count, 0))
            lo, hi = wilson(round(v * n), n)
            ci = f"[{lo:.3f}, {hi:.3f}]" if n else "-"
            lines.append(f"  {part:<18} {key:<34} {v:>5.3f} {ci:>16} {n:>7}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import math

    from behemoth import threads
    from behemoth.config import resolve
    from behemoth.editors.serac.config import SeracNetsConfig
    from behemoth.editors.serac.train import scenario_training_facts, train_nets
    from behemoth.io import atomic_dir, check_out
    from behemoth.scenarios.scenario import build_scenario
    from behemoth.world.world import World

    inputs = {"WORLD": args.world}
    check_out(args.out, args.force, "serac.json", "SERAC networks", inputs=inputs)
    cfg = resolve(SeracNetsConfig, None, None, args.overrides, args.seed)
    world = World.load(args.world)
    scenario = build_scenario(world, args.scenario, args.scenario_overrides)
    facts = scenario_training_facts(scenario)
    # one thread unless --threads (or OMP_NUM_THREADS) asks for more: the networks' sums,
    # hence their weights, depend on the thread count, never on the machine's load
    threads.use_threads(math.inf, "train-serac", cap=1)
    with atomic_dir(
        args.out, args.force, marker="serac.json", what="SERAC networks", inputs=inputs
    ) as tmp:
        split = {"scenario": scenario.config, "source": "retain mix (disjoint from its tests)"}
        nets = train_nets(world, facts, cfg, split, progress=not args.no_progress)
        nets.save(tmp)
    m = nets.metrics
    print(f"serac networks: {cfg.variant} classifier, {len(facts):,} training facts")
    print(classifier_table(m))
    print(f"  written to {args.out}")
    return 0
