"""``behemoth export-finetuning``: the reference's fine-tuning folder, drawn from a world."""

from __future__ import annotations

import argparse

from behemoth.cli.common import add_out_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-finetuning",
        help="write fine-tuning data in the reference's layout (create_finetuning_data.py)",
        description="Writes OUT/finetuning_data/{train,val,test}.jsonl (plus each part's rows) "
        "and OUT/ft_validations/*.txt as the reference's create_finetuning_data.py does, for a "
        "world with vocab: reference. Load it back with --scenario from-reference "
        "--scenario-set path=OUT.",
    )
    p.add_argument("world", metavar="WORLD", help="a world directory (vocab: reference)")
    p.add_argument(
        "-f", "--kind", choices=("remapping", "refusal"), default="remapping", help="[-f]"
    )
    p.add_argument("-n", "--overrides", type=int, default=1, help="edits drawn (>= 1) [-n]")
    p.add_argument(
        "--repeats",
        type=int,
        default=250,
        help="copies per edit (>= 1) [--num-repeats-per-override]",
    )
    p.add_argument("--relation", type=int, default=0, help="[--relationship-ordinal]")
    p.add_argument(
        "--single-value", action="store_true", help="forget: all to object 0 [--single-ft-value]"
    )
    p.add_argument("--subset-frac", type=float, default=1.0, help="[--single-ft-data-subset-frac]")
    p.add_argument("--all-same", action="store_true", help="[--all-same-remapping]")
    p.add_argument("--correlated", action="store_true", help="[--get-correlated-tuples]")
    p.add_argument("--add-qa", action="store_true", help="[--add-qa-data-to-finetuning]")
    p.add_argument("--seed", type=int, default=0, help="root seed of the random choices")
    add_out_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from behemoth.errors import BehemothError, ConfigError
    from behemoth.scenarios.finetuning import FinetuningOptions, export_finetuning
    from behemoth.world.world import World

    # checked here, not by argparse: a refusal is one line and exit 2 through main's handler
    for flag, value in (("-n/--overrides", args.overrides), ("--repeats", args.repeats)):
        if value < 1:
            raise ConfigError(
                flag,
                f"{value} writes a folder with no edits",
                f"give {flag.split('/')[-1]} 1 or more",
            )
    fields = list(FinetuningOptions.model_fields)
    try:
        opt = FinetuningOptions(**{k: getattr(args, k) for k in fields})
    except ValidationError as e:
        err = e.errors()[0]
        raise BehemothError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    from behemoth.io import check_out

    check_out(args.out, args.force, inputs={"WORLD": args.world})
    world = World.load(args.world)
    summary = export_finetuning(world, opt, args.out, force=args.force)
    rows = ", ".join(f"{k} {v:,}" for k, v in summary["train_rows"].items())
    print(f"wrote {args.out}: train rows {rows}; {len(summary['edits'])} edits")
    return 0
