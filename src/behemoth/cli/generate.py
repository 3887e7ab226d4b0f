"""``behemoth generate``: sample a world and write it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from behemoth.cli.common import add_config_args, add_out_args, int_at_least
from behemoth.config import resolve
from behemoth.world import WorldConfig, generate_world
from behemoth.world.corpus import Corpus
from behemoth.world.graph import sample_graph
from behemoth.world.presets import world_preset, world_presets
from behemoth.world.vocab import Vocabulary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a world of facts, its tokenizer, corpus and probes",
        description=f"World presets: {', '.join(world_presets())}. Settings: --world.KEY VALUE "
        "(values parsed as YAML), e.g. --world.subjects 500 --world.nested_objects 4.",
    )
    add_config_args(p, "world")
    add_out_args(p)
    p.add_argument(
        "--no-shards",
        action="store_true",
        help="skip writing the token shards (training can sample the corpus on the fly)",
    )
    p.add_argument(
        "--workers",
        type=int_at_least(1),
        default=None,
        help="processes writing shards (default: all cores)",
    )
    p.add_argument(
        "--force-size",
        action="store_true",
        help="go on even if the shards' estimated size exceeds the free disk or the graph and "
        "probes' estimated memory exceeds the available memory",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    preset = world_preset(args.preset) if args.preset else None
    cfg = resolve(WorldConfig, preset, args.config, args.overrides, args.seed)
    bars: list[Any] = []

    def progress(n: int) -> None:
        if not bars:  # created on first use: nothing is drawn when no shard is written
            from tqdm import tqdm

            total = Corpus(cfg, sample_graph(cfg), Vocabulary.from_config(cfg)).n_units
            bars.append(tqdm(total=total, unit="doc", unit_scale=True, desc="shards", leave=False))
        bars[0].update(n)

    # the bar is drawn on a terminal only (not into logs and pipes), and only then is tqdm
    # imported (~0.05 s of CPU time, 8% of the command's start-up)
    world = generate_world(
        cfg,
        args.out,
        shards=not args.no_shards,
        force=args.force,
        workers=args.workers,
        progress=progress if sys.stderr.isatty() else None,
        force_size=args.force_size,
    )
    for bar in bars:
        bar.close()
    print(world.summary())
    print(f"  written to {world.path}")
    return 0
