"""``behemoth train``: train a Pythia-shaped GPT-NeoX on a world until it knows its facts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from behemoth.cli.common import add_out_args, add_set_arg
from behemoth.errors import ConfigError
from behemoth.model.presets import model_preset, model_presets
from behemoth.tracking import add_log_arg

if TYPE_CHECKING:
    from behemoth.world.probes import ProbeSet


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on a world (a standard Hugging Face model directory)",
        description=f"Model presets: {', '.join(model_presets())}. Settings: seed, model.* "
        "(geometry) and train.* (recipe), e.g. --train.lr 1e-3 --model.layers 6.",
    )
    p.add_argument("world", metavar="WORLD", help="a world directory (from `behemoth generate`)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help="a named model preset")
    src.add_argument("--config", help="a YAML file of model settings")
    add_set_arg(
        p,
        "deprecated: write --model.KEY VALUE / --train.KEY VALUE",
        flag="--set",
        dest="overrides",
    )
    p.add_argument("--seed", type=int, default=None, help="the seed of the weight initialization")
    add_out_args(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run of --out (settings may be omitted: the run's own are used)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_log_arg(p, "the training curves (loss, lr, tokens/s, probe accuracies)")
    p.set_defaults(func=run)


def accuracy_table(final: dict[str, dict[str, float]], probes: dict[str, ProbeSet]) -> str:
    """The trained model's greedy accuracy per probe set, with its 95% Wilson interval and n."""
    from behemoth.evaluation.uncertainty import wilson

    lines = ["  accuracy per probe set (95% Wilson interval, n probes):"]
    for name, v in final.items():
        n = len(probes[name])
        lo, hi = wilson(round(v["acc"] * n), n)
        lines.append(f"    {name:<22} {v['acc']:.3f} [{lo:.3f}, {hi:.3f}] n={n}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from behemoth.io import check_out
    from behemoth.model.config import resolve_run
    from behemoth.model.export import META
    from behemoth.model.load import read_model_meta
    from behemoth.model.logplot import PLOT
    from behemoth.model.train import train_model
    from behemoth.tracking import LogTarget, from_flag, how_to_view
    from behemoth.world.world import World

    check_out(args.out, args.force, META, "a trained model", inputs={"WORLD": args.world})
    log = from_flag(args.log, args.out)  # --log wins over the config's train.log
    given = args.preset or args.config or args.overrides or args.seed is not None
    if not given and not args.resume:
        raise ConfigError(
            "--preset", "no model settings given", "pass --preset NAME or --config FILE.yaml"
        )
    cfg = None
    if given:
        preset = model_preset(args.preset) if args.preset else None
        cfg = resolve_run(preset, args.config, args.overrides, args.seed)
        if log is None and cfg.train.log is not None:
            log = LogTarget.of(cfg.train.log, cfg.train.log_dir, args.out, "train.log")
    out = train_model(
        args.world,
        cfg,
        args.out,
        resume=args.resume,
        force=args.force,
        progress=not args.no_progress,
        log=log,
    )
    meta = read_model_meta(out)
    r = meta["result"]
    print(f"model: {meta['params']:,} parameters, {r['steps']:,} steps, {r['tokens']:,} tokens")
    print(f"  stopped: {r['stopped']}")
    print(accuracy_table(r["final"], World.load(meta["world"]["path"]).probes))
    print(f"  written to {out}  (learning curve: {Path(out) / PLOT})")
    if log is not None:
        print(f"  training curves logged: {how_to_view(log)}")
    return 0
