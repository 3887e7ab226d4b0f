"""``behemoth convert-litgpt`` and ``behemoth export-litgpt``: models trained with LitGPT."""

from __future__ import annotations

import argparse

from behemoth.cli.common import add_out_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-litgpt",
        help="convert a LitGPT checkpoint (Pythia-shaped) into a behemoth model directory",
        description="Reads CHECKPOINT/lit_model.pth (tensors only, never pickled code) and "
        "CHECKPOINT/model_config.yaml, and writes a Hugging Face GPT-NeoX directory with the "
        "world's tokenizer and behemoth_model.json, for `behemoth evaluate` and `behemoth edit`.",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a LitGPT checkpoint directory")
    p.add_argument(
        "--world",
        required=True,
        help="the world the model was trained on (for a reference world: its import-reference)",
    )
    add_out_args(p)
    p.set_defaults(func=run_convert)

    p = sub.add_parser(
        "export-litgpt",
        help="write a behemoth model directory as a LitGPT checkpoint",
        description="Writes OUT/lit_model.pth (a state dict), OUT/model_config.yaml and the "
        "tokenizer files, which LitGPT's GPT(Config.from_file(...)) loads.",
    )
    p.add_argument("model", metavar="MODEL", help="a model directory (GPT-NeoX)")
    add_out_args(p)
    p.set_defaults(func=run_export)


def run_convert(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.io import check_out
    from behemoth.model.litgpt import convert_litgpt
    from behemoth.world.world import World

    check_out(args.out, args.force, inputs={"CHECKPOINT": args.checkpoint, "--world": args.world})
    hf_logging.disable_progress_bar()
    world = World.load(args.world)
    out = convert_litgpt(args.checkpoint, world, args.out, force=args.force)
    print(f"converted {args.checkpoint} into {out} (world {world.fingerprint})")
    print(f"  evaluate it: behemoth evaluate {out}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from behemoth.io import check_out
    from behemoth.model.litgpt import export_litgpt

    check_out(args.out, args.force, inputs={"MODEL": args.model})
    hf_logging.disable_progress_bar()
    out = export_litgpt(args.model, args.out, force=args.force)
    print(f"exported {args.model} as a LitGPT checkpoint in {out}")
    return 0
