"""Arguments shared by stages: preset / config / --set / --seed / --out / --force."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_config_args(p: argparse.ArgumentParser, what: str) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help=f"a named {what} preset")
    src.add_argument("--config", help=f"a YAML file of {what} settings")
    add_set_arg(p)
    p.add_argument("--seed", type=int, default=None, help="the root seed (overrides the config's)")


def add_out_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--out", required=required, help="output directory (must be new or empty)")
    p.add_argument("--force", action="store_true", help="replace what --out already holds")


def add_set_arg(
    p: argparse.ArgumentParser,
    help: str = "override one setting (repeatable; values parsed as YAML)",
    flag: str = "--set",
    dest: str = "overrides",
) -> None:
    """``--set KEY=VALUE`` (repeatable), collected as a list of strings in ``dest``."""
    p.add_argument(flag, dest=dest, action="append", default=[], metavar="KEY=VALUE", help=help)


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``lo`` (the error names the bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {lo}")
        return value

    parse.__name__ = f"integer >= {lo}"
    return parse


# --- torch threads (behemoth.threads): --threads on every command that computes -------------

#: Commands that run torch, and the tokens of their typical call (for the work estimate of
#: :func:`behemoth.threads.forward_work`): scoring runs batches of thousands of prompts; editing
#: and tracing run a few prompts at a time (a request's paraphrases, a traced fact's noise
#: samples); conversions copy weights. ``train`` chooses in the training loop (it knows its
#: batch); a sweep's runs keep one thread each.
THREADED: dict[str, int | None] = {
    "train": None,
    "evaluate": 4096,
    "edit": 64,
    "trace": 64,
    "train-serac": None,
    "demo": None,
    "sweep": None,
    "convert-litgpt": 0,
    "export-litgpt": 0,
}
THREADS_HELP = (
    "torch threads (default: one per core other processes leave free, fewer for small "
    "models; wins over a model preset's train.threads and over OMP_NUM_THREADS)"
)


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    """``--threads N`` (N >= 1), unless the command already defines its own."""
    if "--threads" not in p._option_string_actions:
        p.add_argument("--threads", type=int_at_least(1), default=None, help=THREADS_HELP)


def add_reproducible_arg(p: argparse.ArgumentParser) -> None:
    """``behemoth train --reproducible``: the same as ``--set train.reproducible=true``."""
    p.add_argument(
        "--reproducible",
        action="store_true",
        help="train in the mode whose weights are bitwise identical on every x86-64 CPU and "
        "at every load (one thread, portable kernels; slower): train.reproducible",
    )


def model_params(model_dir: str | None) -> int | None:
    """Parameters of the GPT-style model in ``model_dir`` from its ``config.json`` (None when
    it cannot be read: the command itself then says what is wrong with it)."""
    import json
    from pathlib import Path

    from behemoth.threads import gpt_params

    if not model_dir:
        return None
    try:
        c = json.loads((Path(model_dir) / "config.json").read_text())
        width = int(c.get("hidden_size") or c["n_embd"])
        layers = int(c.get("num_hidden_layers") or c["n_layer"])
        mlp = int(c.get("intermediate_size") or c.get("n_inner") or 4 * width)
        return gpt_params(int(c["vocab_size"]), width, layers, mlp)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def configure_threads(command: str, args: argparse.Namespace) -> None:
    """Before ``command`` runs: export an explicit thread count (``--threads``, else the user's
    ``OMP_NUM_THREADS``) as ``BEHEMOTH_THREADS`` for the code that chooses and for workers, and
    for the commands that compute here, choose, apply and log the threads (one line on
    stderr: ``threads: 1 (2 cores, load 3.1) for edit``)."""
    import logging
    import math
    import os

    from behemoth import threads

    log = logging.getLogger("behemoth.threads")
    if getattr(args, "reproducible", False):
        args.overrides = [*getattr(args, "overrides", []), "train.reproducible=true"]
    n = getattr(args, "threads", None)
    if n is not None and command != "train-serac":
        os.environ[threads.ENV] = str(n)
    else:
        asked = threads.requested(omp=True)  # a bad value: one line naming the variable
        if asked is not None:
            os.environ[threads.ENV] = str(asked[0])
    if command == "train":
        return  # the training loop chooses from its batch, at most train.threads, and logs it
    if command in ("sweep", "demo"):
        log.info(
            "threads: 1 per run (identical sums on every backend); training a shared model "
            "chooses its own"
        )
        return
    tokens = THREADED.get(command)
    if tokens is None:
        return
    params = model_params(getattr(args, "model", None) or getattr(args, "checkpoint", None))
    if tokens == 0:
        work = 0.0  # copying weights: nothing a second thread speeds up
    else:
        work = math.inf if params is None else threads.forward_work(params, tokens)
    threads.use_threads(work, command)
