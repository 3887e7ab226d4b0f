"""``behemoth export-reference`` and ``behemoth import-reference``: the reference's layout."""

from __future__ import annotations

import argparse

from behemoth.cli.common import add_out_args, int_at_least
from behemoth.io import check_out
from behemoth.world.reference import export_reference, import_reference
from behemoth.world.world import World


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-reference",
        help="write a world in the reference generator's layout and words (LitGPT-ready)",
        description="Writes data/full_text_{i}.txt, validations/, questions/ and metadata/ "
        "(graph, tokenizer, metadata.json, other_special_tokens.json, remappings_map.json) as "
        "the reference generator writes them, with its 4-digit word ids.",
    )
    p.add_argument("world", metavar="WORLD", help="a world directory (from `behemoth generate`)")
    add_out_args(p)
    p.add_argument(
        "--units-per-shard",
        type=int_at_least(1),
        default=None,
        help="corpus documents per text shard (default: the reference's shard count)",
    )
    p.set_defaults(func=run_export)

    p = sub.add_parser(
        "import-reference",
        help="import a world written by the reference generator",
        description="Reads DIR/metadata/relationship_graph.txt (and args.json, metadata.json, "
        "its tokenizer when present) and writes a behemoth world.",
    )
    p.add_argument("dir", metavar="DIR", help="the reference's output directory")
    add_out_args(p)
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="root seed of the corpus (default: args.json's or 0)",
    )
    p.add_argument("--shards", action="store_true", help="also write token shards")
    p.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    check_out(args.out, args.force, inputs={"WORLD": args.world})
    world = World.load(args.world)
    meta = export_reference(world, args.out, force=args.force, units_per_shard=args.units_per_shard)
    print(
        f"exported world {world.fingerprint} to {args.out}: {meta['total_num_tokens']:,} tokens, "
        f"vocab_size {meta['vocab_size']:,}, {meta['graph_size']:,} edges"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    check_out(args.out, args.force, "world.json", "a world", inputs={"DIR": args.dir})
    world = import_reference(
        args.dir, args.out, force=args.force, seed=args.seed, shards=args.shards
    )
    print(world.summary())
    for note in world.meta["imported_from"]["notes"]:
        print(f"  note: {note}")
    print(f"  imported from {args.dir} into {world.path}")
    return 0
