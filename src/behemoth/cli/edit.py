"""``behemoth edit``: one experiment (a scenario applied by an editor to a model, once per
seed), wired by :func:`behemoth.experiments.run.run_experiment`; see that module for what
``--out`` receives.

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
    p.add_argument(
        "--oracle",
        action="store_true",
        help="forget scenarios: judge the run against the retain oracle (2 replicates, trained "
        "once under $BEHEMOTH_CACHE/oracles, else ~/.cache/behemoth/oracles): forget quality, "
        "model utility, MIA AUCs and PrivLeak, each with its noise floor (oracle 2 vs 1)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr for streams"
    )
    add_out_args(p)
    p.set_defaults(func=run)


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
            "oracle": args.oracle,
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
    note = oracle_note(result)
    if note:
        print(note)
    print(f"  written to {args.out} (results.json: the headline with config and versions)")
    print(f"the HTML report with every table and plot: behemoth report {args.out}")
    return 0


def oracle_note(result: Any) -> str:
    """The retain-oracle judgment of each run (``--oracle``), or, for a forget scenario run
    without it, one line saying which figures need ``--oracle``; "" for other scenarios."""
    from behemoth.evaluation.unlearning.judge import describe_judgment, is_forget

    runs = result.runs
    if not result.config.oracle:
        if any(is_forget(sr.scenario) for sr in runs):
            return (
                "forget quality, MIA AUCs and PrivLeak (against the retain oracle, with their "
                "noise floor) need --oracle"
            )
        return ""
    lines = []
    for sr in runs:
        head = "" if len(runs) == 1 else f"seed {sr.seed}, replicate {sr.replicate}: "
        lines.append(head + describe_judgment(sr.judgment))
    return "\n".join(lines)


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
