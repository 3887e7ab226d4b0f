"""Entry point: builds the parser from the stage modules and turns errors into one line.

A stage module exposes ``register(subparsers)``, which adds its subcommand(s) and sets
``func(args) -> int`` as the handler. Add a stage by adding its commands to ``COMMANDS``.

Every command that computes takes ``--threads N`` and says how many threads it chose
(:func:`behemoth.cli.common.configure_threads`, :mod:`behemoth.threads`); ``train`` also takes
``--reproducible``. Only the module of the command being run is imported: ``behemoth --help`` lists the commands
from ``COMMANDS`` alone, and ``behemoth generate`` never loads torch or PEFT (a test checks).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
from types import ModuleType
from typing import NoReturn

from behemoth.cli.common import (
    THREADED,
    add_reproducible_arg,
    add_threads_arg,
    apply_dotted,
    configure_threads,
    legacy_notes,
    split_dotted,
)
from behemoth.errors import BehemothError
from behemoth.progress import plain_stderr

#: command -> (stage module under behemoth.cli, one-line help shown by ``behemoth --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "generate a world of facts, its tokenizer, corpus and probes"),
    "export-reference": (
        "reference",
        "write a world in the reference generator's text layout (LitGPT-ready)",
    ),
    "import-reference": ("reference", "import a world written by the reference generator"),
    "train": ("train", "train a model on a world (a standard Hugging Face model directory)"),
    "evaluate": (
        "evaluate",
        "score a model on every probe of its world and on an edit scenario's test sets",
    ),
    "edit": ("edit", "edit a model's weights on a scenario and evaluate the result"),
    "trace": ("trace", "causal tracing: which layer and token carry a relation's facts"),
    "train-serac": ("train_serac", "train SERAC's scope classifier and counterfactual model"),
    "demo": (
        "demo",
        "end to end: the demo world and model, a small study of every editor, a report",
    ),
    "sweep": ("sweep", "run a sweep: worlds x models x scenarios x editors x grids x seeds"),
    "report": ("report", "an HTML report of a sweep or a run (tables, plots with intervals)"),
    "compare": ("compare", "compare two runs or two sweeps: headline figures side by side"),
    "lens": ("lens", "logit lens: what each layer's residual stream already predicts"),
    "convert-litgpt": ("litgpt", "convert a LitGPT checkpoint into a behemoth model directory"),
    "export-litgpt": ("litgpt", "write a behemoth model directory as a LitGPT checkpoint"),
    "export-finetuning": ("finetuning", "write fine-tuning data in the reference's layout"),
    "editors": (
        "listing",
        "list the editors: each setting with its type, default and meaning, and the paper",
    ),
    "scenarios": ("listing", "list the scenarios: each setting with its type, default and meaning"),
}
STAGES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))
#: Commands that do no linear algebra: numpy's OpenBLAS starts no threads for them (its
#: thread pool costs ~0.035 s of CPU time at import and spins while idle).
NO_BLAS = frozenset({"generate", "export-reference", "import-reference", "export-finetuning"})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        self.exit(2, f"behemoth: error: {message}\n")


def _command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one), if any."""
    return next((a for a in argv if a in COMMANDS), None)


def known_settings(group: str, args: argparse.Namespace) -> list[str] | None:
    """The keys settings group ``group`` of the parsed command takes (None: not known before
    the command runs; its config's validation then names an unknown key)."""
    if group == "editor":
        from behemoth.cli.listing import editor_setting_names

        return editor_setting_names(str(getattr(args, "editor", "")))
    if group == "scenario":
        from behemoth.scenarios.scenario import SCENARIOS

        spec = SCENARIOS.get(str(getattr(args, "scenario", "")))
        return None if spec is None else list(spec.config.model_fields)
    if group in ("model", "train"):
        from behemoth.model.config import ModelConfig, TrainConfig

        return list((ModelConfig if group == "model" else TrainConfig).model_fields)
    if group == "world":
        from behemoth.world.config import WorldConfig

        return list(WorldConfig.model_fields)
    return None


def build_parser(command: str | None = None, *, full: bool = False) -> argparse.ArgumentParser:
    """The parser; ``command``'s stage module is loaded to parse its arguments, the others only
    named (``full`` loads every stage, e.g. to check each registers what COMMANDS says)."""
    parser = _Parser(
        prog="behemoth",
        description="Knowledge editing and unlearning in a world where everything is known.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    wanted = set(STAGES) if full else {COMMANDS[command][0]} if command in COMMANDS else set()
    registered: set[str] = set()
    for name, (stage, help_) in COMMANDS.items():
        if stage in wanted:
            if stage not in registered:
                _import_quietly(f"behemoth.cli.{stage}").register(sub)
                registered.add(stage)
            if name in THREADED:  # --threads on every command that computes (cli/common.py)
                add_threads_arg(sub.choices[name])
            if name == "train":
                add_reproducible_arg(sub.choices[name])
        else:
            sub.add_parser(name, help=help_)
    return parser


def _import_quietly(module: str) -> ModuleType:
    """Import a stage module with Python's cycle collector paused: importing numpy, pydantic
    and pyarrow creates few cycles but triggers many collections (~0.03 s of CPU time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(module)
    finally:
        if enabled:
            gc.enable()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = _command(argv)
    if command in NO_BLAS and "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser(command)
    # what the imports made lives as long as the process: later collections skip it
    gc.freeze()
    try:  # --GROUP.KEY VALUE settings (cli/common.py): the same grammar in every command
        argv, dotted = split_dotted(command, argv)
    except BehemothError as e:
        print(f"behemoth: error: {e}", file=sys.stderr)
        return 2
    # the older --set spellings: one note each, after the run (bad input stays one line)
    notes = legacy_notes(command, argv)
    args = parser.parse_args(argv)
    # off a terminal: bars' carriage-return frames become plain lines, silences a heartbeat
    with plain_stderr(f"behemoth {command}" if command else "behemoth"):
        return _run(command, args, dotted, notes)


def _run(command: str | None, args: argparse.Namespace, dotted: list, notes: list[str]) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        apply_dotted(command, args, dotted, known_settings)
        if args.command in THREADED:
            configure_threads(args.command, args)
        code = int(args.func(args) or 0)
        _threads_note(announce=True)
        for note in notes:
            print(note, file=sys.stderr)
        return code
    except BehemothError as e:
        _threads_note(announce=False)  # a refusal is one line
        print(f"behemoth: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("behemoth: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a file or library error: one line naming the file, unless --debug
        if args.debug:
            raise
        print(
            f"behemoth: error: {describe_error(e)} (--debug shows the traceback)", file=sys.stderr
        )
        return 2


def _threads_note(announce: bool) -> None:
    """Say (or, on a refusal, drop) a thread choice the command had not said yet."""
    if "behemoth.threads" in sys.modules:
        from behemoth import threads

        threads.announce() if announce else threads.forget_pending()


def describe_error(e: BaseException) -> str:
    """One line for an error raised by a file or a library: the file (when known), what kind
    of error and its message, without newlines."""
    name = type(e).__name__
    where = ""
    filename = getattr(e, "filename", None)
    if isinstance(e, OSError) and filename:
        return f"{filename}: {e.strerror or name}"
    if filename:
        where = f"{filename}: "
    text = " ".join(str(e).split()) or name
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{where}{name}: {text}"


if __name__ == "__main__":
    sys.exit(main())
