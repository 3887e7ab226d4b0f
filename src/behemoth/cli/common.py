"""Arguments shared by stages: preset / config / --GROUP.KEY settings / --seed / --out / --force."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable
from dataclasses import dataclass


def add_config_args(p: argparse.ArgumentParser, what: str) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help=f"a named {what} preset")
    src.add_argument("--config", help=f"a YAML file of {what} settings")
    add_set_arg(
        p, f"deprecated: write --{what}.KEY VALUE (one {what} setting; values parsed as YAML)"
    )
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
    "lens": 4096,
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
    if n is not None:
        os.environ[threads.ENV] = str(n)
    else:
        asked = threads.requested(omp=True)  # a bad value: one line naming the variable
        if asked is not None:
            os.environ[threads.ENV] = str(asked[0])
    if command == "train":
        return  # the training loop chooses from its batch, at most train.threads, and logs it
    if command in ("sweep", "demo"):
        # debug: said before the command checks its inputs, it would make a refusal two lines
        log.debug(
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
    threads.use_threads(work, command, defer=True)  # said when the work starts


# --- one flag grammar: --GROUP.KEY VALUE in every command -----------------------------------

#: Per command, the settings groups it accepts as ``--GROUP.KEY VALUE`` (or
#: ``--GROUP.KEY=VALUE``): group -> (the parsed arguments' list the setting joins as
#: ``KEY=VALUE``, the prefix the key gets there). ``--editor.rank 8``, ``--scenario.k 10``,
#: ``--model.width 64``, ``--train.lr 1e-3``, ``--world.subjects 500``: values parsed as YAML.
GROUPS: dict[str, dict[str, tuple[str, str]]] = {
    "generate": {"world": ("overrides", "")},
    "train": {"model": ("overrides", "model."), "train": ("overrides", "train.")},
    "evaluate": {"scenario": ("overrides", "")},
    "edit": {"editor": ("overrides", ""), "scenario": ("scenario_overrides", "")},
    "train-serac": {"serac": ("overrides", ""), "scenario": ("scenario_overrides", "")},
}
#: The older ``KEY=VALUE`` flags, kept for one release with one meaning per command: flag ->
#: the group it feeds (None: the key names its group, as ``--set train.lr=1e-3`` in ``train``).
LEGACY: dict[str, dict[str, str | None]] = {
    "generate": {"--set": "world"},
    "train": {"--set": None},
    "evaluate": {"--set": "scenario"},
    "edit": {"--set": "editor", "--scenario-set": "scenario"},
    "train-serac": {"--set": "serac", "--scenario-set": "scenario"},
}


@dataclass(frozen=True)
class Dotted:
    """One ``--GROUP.KEY VALUE`` of the command line."""

    group: str
    key: str
    value: str

    @property
    def flag(self) -> str:
        return f"--{self.group}.{self.key}"


def split_dotted(command: str | None, argv: list[str]) -> tuple[list[str], list[Dotted]]:
    """``argv`` without its ``--GROUP.KEY VALUE`` settings, and those settings. A group the
    command does not take is a one-line error naming the groups it takes."""
    from behemoth.errors import ConfigError

    groups = GROUPS.get(command or "", {})
    rest: list[str] = []
    found: list[Dotted] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        name, eq, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        group, dot, key = name.partition(".")
        if not dot:
            rest.append(arg)
            i += 1
            continue
        if group not in groups:
            where = f"`behemoth {command}`" if command else "behemoth"
            if not groups:
                raise ConfigError(f"--{name}", f"{where} takes no --GROUP.KEY settings", "drop it")
            close = difflib.get_close_matches(group, list(groups), n=1)
            every = ", ".join(f"--{g}.KEY" for g in groups)
            raise ConfigError(
                f"--{name}",
                f"{where} has no settings group {group!r}",
                f"did you mean --{close[0]}.{key}? (groups: {every})"
                if close
                else f"use one of {every}",
            )
        if not key or key.endswith("."):
            raise ConfigError(f"--{name}", "no setting named", f"write e.g. --{group}.seed 1")
        if not eq:
            if i + 1 >= len(argv):
                raise ConfigError(f"--{name}", "no value", f"give one, e.g. --{name} 1")
            i += 1
            value = argv[i]
        found.append(Dotted(group, key, value))
        i += 1
    return rest, found


def legacy_notes(command: str | None, argv: list[str]) -> list[str]:
    """One deprecation line per older ``--set KEY=VALUE`` in ``argv``, naming its new spelling."""
    flags = LEGACY.get(command or "", {})
    notes: list[str] = []
    for i, arg in enumerate(argv):
        flag, eq, pair = arg.partition("=")
        if flag not in flags:
            continue
        if not eq:
            pair = argv[i + 1] if i + 1 < len(argv) else ""
        key, has_value, value = pair.partition("=")
        group = flags[flag]
        if group is None:  # the key names its group, or is a top-level setting
            head = key.partition(".")[0]
            new = f"--{key} {value}" if head in GROUPS.get(command or "", {}) else None
            if key == "seed":
                new = f"--seed {value}"
        else:
            new = f"--{group}.{key} {value}"
        if not has_value or new is None:
            continue  # a malformed pair (reported by the parser of values) or no new spelling
        notes.append(
            f"behemoth: {flag} {pair} is deprecated and goes in the next release: "
            f"write {new.strip()}"
        )
    return notes


def apply_dotted(
    command: str | None,
    args: argparse.Namespace,
    found: list[Dotted],
    known: Callable[[str, argparse.Namespace], list[str] | None] | None = None,
) -> None:
    """Add each ``--GROUP.KEY VALUE`` to the parsed arguments as ``KEY=VALUE`` in its group's
    list (after the older flags' settings: the new spelling wins). ``known(group, args)`` gives
    the keys a group accepts (None: not known here; the config's validation reports them): a
    key outside them is a one-line error suggesting the closest."""
    from behemoth.errors import ConfigError

    groups = GROUPS.get(command or "", {})
    cache: dict[str, list[str] | None] = {}
    for d in found:
        dest, prefix = groups[d.group]
        if known is not None:
            if d.group not in cache:
                cache[d.group] = known(d.group, args)
            keys = cache[d.group]
            head = d.key.partition(".")[0]
            if keys is not None and head not in keys:
                close = difflib.get_close_matches(head, keys, n=1)
                raise ConfigError(
                    d.flag,
                    f"unknown {d.group} setting {head!r}",
                    f"did you mean --{d.group}.{close[0]}?"
                    if close
                    else f"known: {', '.join(keys)}",
                )
        getattr(args, dest).append(f"{prefix}{d.key}={d.value}")


def model_world(model_dir: str | None) -> str | None:
    """The world directory a behemoth model records in its ``behemoth_model.json`` (None when
    it cannot be read: loading the model then says what is wrong). An input of every command
    reading the model without ``--world``: ``--out`` may not be it, contain it or lie in it."""
    import json
    from pathlib import Path

    if not model_dir:
        return None
    try:
        path = json.loads((Path(model_dir) / "behemoth_model.json").read_text())["world"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if isinstance(path, str) and path else None
