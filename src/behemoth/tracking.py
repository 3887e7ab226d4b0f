"""Experiment tracking: training curves and sweep tables in TensorBoard or Weights & Biases.

Asked for, never on by default: ``behemoth train ... --log tensorboard [DIR]`` (or the train
config's ``train.log``) logs the curves the trainer already computes at every evaluation
(``train/loss``, the mean loss since the previous evaluation; ``train/lr``; ``train/tokens``;
``train/tokens_per_s``, wall time between evaluations, the evaluation included;
``probe/<set>/acc`` and ``probe/<set>/loss`` of every probe set it scores) against the
optimizer step. ``behemoth sweep ... --log tensorboard [DIR]`` writes the finished table: one
TensorBoard run per sweep run (``DIR/<run_id>``), one scalar per (metric, split) against the
checkpoint (edits applied: the unedited model at 0), tagged ``<group>/<metric>/<split>``, and
the run's labels, seed and replicate as hyperparameters with the last checkpoint's values as
their metrics (TensorBoard's HParams tab compares the runs).

Backends, one class each (:data:`BACKENDS`; a new one is a :class:`Tracker` subclass decorated
with :func:`backend`):

- ``tensorboard``: event files of ``torch.utils.tensorboard.SummaryWriter`` in ``DIR``
  (``tensorboard --logdir DIR``). A resumed training run writes with ``purge_step`` at the
  checkpoint's step, so TensorBoard drops what the interrupted run logged after it.
- ``wandb``: Weights & Biases in offline mode only (``WANDB_MODE=offline``; error reporting,
  system metrics, git and code capture off): the run is written under ``DIR/wandb/offline-run-*``
  and leaves the machine only if the user runs ``wandb sync`` on it.

Both come with the optional extra ``tracking`` (``pip install 'behemoth[tracking]'``; a checkout's
``scripts/setup.sh`` installs it); without it, ``--log`` fails with one line naming the extra.

Logging changes no weight and no artifact: the tracker only reads the trainer's evaluation
records (no extra synchronisation, no random numbers), writes outside the model directory
(default ``<out>.<backend>`` beside it), and ``train.log`` / ``train.log_dir`` are excluded from
the saved config, so from every model's cache key.
"""

from __future__ import annotations

import importlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from behemoth.errors import BehemothError, ConfigError, suggest

#: The optional dependency group that holds every backend's package.
EXTRA = "tracking"
INSTALL = f"pip install 'behemoth[{EXTRA}]' (in a checkout: bash scripts/setup.sh)"

Scalar = float | int


class Tracker(ABC):
    """One run of an experiment tracker: scalars against a step, hyperparameters, closed once.

    ``directory``: where the backend writes; ``run``: the run's name; ``config``: what the run
    was (logged as the backend's config / a text summary); ``start_step``: the step the run
    starts (or resumes) at."""

    #: The backend's name (the value of ``--log`` / ``train.log``).
    name: ClassVar[str]
    #: The module whose import proves the backend's package is installed, and its PyPI name.
    module: ClassVar[str]
    package: ClassVar[str]
    #: Whether each run needs a directory of its own (TensorBoard: a run is a directory) or
    #: the backend keeps its runs apart inside one (W&B: ``wandb/offline-run-*``).
    dir_per_run: ClassVar[bool] = True

    def __init__(
        self, directory: Path, run: str, config: Mapping[str, Any], start_step: int = 0
    ) -> None:
        self.directory = Path(directory)
        self.run = run

    @abstractmethod
    def log(self, values: Mapping[str, Scalar], step: int) -> None:
        """Record ``values`` (tag -> number) at ``step``; steps never decrease within a run."""

    @abstractmethod
    def hparams(self, params: Mapping[str, Any], metrics: Mapping[str, Scalar]) -> None:
        """Record the run's hyperparameters ``params`` and its final ``metrics``."""

    @abstractmethod
    def close(self) -> None:
        """Flush and close (idempotent)."""


T = TypeVar("T", bound=type[Tracker])
#: Backend name -> its tracker class.
BACKENDS: dict[str, type[Tracker]] = {}


def backend(cls: T) -> T:
    """Class decorator: register a :class:`Tracker` subclass under its ``name``."""
    BACKENDS[cls.name] = cls
    return cls


def require(name: str, field: str = "--log") -> type[Tracker]:
    """The tracker class of backend ``name``, with its package importable; else one line naming
    ``field`` and the fix (the extra to install)."""
    cls = BACKENDS.get(name)
    if cls is None:
        raise ConfigError(field, f"unknown tracking backend {name!r}", suggest(name, BACKENDS))
    try:
        importlib.import_module(cls.module)
    except ImportError:
        raise ConfigError(
            field,
            f"{name} needs the package {cls.package}, which is not installed",
            f"install the extra {EXTRA!r}: {INSTALL}",
        ) from None
    return cls


def _scalar_value(v: Any) -> Any:
    """A hyperparameter value TensorBoard takes (number, bool, string)."""
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


@backend
class TensorBoardTracker(Tracker):
    """TensorBoard event files in ``directory`` through ``torch.utils.tensorboard.SummaryWriter``.
    ``purge_step`` = ``start_step``: events an earlier writer left in the directory at or after
    that step are hidden (a resumed training run, or the same run logged again)."""

    name = "tensorboard"
    module = "tensorboard"
    package = "tensorboard"

    def __init__(
        self, directory: Path, run: str, config: Mapping[str, Any], start_step: int = 0
    ) -> None:
        super().__init__(directory, run, config, start_step)
        from torch.utils.tensorboard import SummaryWriter

        self.directory.mkdir(parents=True, exist_ok=True)
        self._writer: Any = SummaryWriter(str(self.directory), purge_step=start_step)
        if config and start_step == 0:
            import json

            text = json.dumps(dict(config), indent=2, sort_keys=True, default=str)
            # four-space indentation: a code block in TensorBoard's markdown text tab
            self._writer.add_text("config", "\n".join("    " + ln for ln in text.splitlines()))

    def log(self, values: Mapping[str, Scalar], step: int) -> None:
        for tag, v in values.items():
            self._writer.add_scalar(tag, float(v), global_step=step)

    def hparams(self, params: Mapping[str, Any], metrics: Mapping[str, Scalar]) -> None:
        """The HParams plugin's three summaries in this run's own event file; its metrics are
        scalar tags this run logs (the plugin reads their last value)."""
        from torch.utils.tensorboard.summary import hparams

        clean = {k: _scalar_value(v) for k, v in params.items()}
        for summary in hparams(clean, {k: float(v) for k, v in metrics.items()}):
            self._writer.file_writer.add_summary(summary)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@backend
class WandbTracker(Tracker):
    """A Weights & Biases run in offline mode, under ``directory/wandb/offline-run-*``.

    Offline is forced for the whole process (``WANDB_MODE=offline``), error reporting off
    (``WANDB_ERROR_REPORTING=false``), and nothing is captured beyond what is logged (no system
    metrics, console, git state, code or machine metadata): no network call is made."""

    name = "wandb"
    module = "wandb"
    package = "wandb"
    dir_per_run = False

    def __init__(
        self, directory: Path, run: str, config: Mapping[str, Any], start_step: int = 0
    ) -> None:
        super().__init__(directory, run, config, start_step)
        os.environ["WANDB_MODE"] = "offline"
        os.environ["WANDB_ERROR_REPORTING"] = "false"
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self.directory.mkdir(parents=True, exist_ok=True)
        settings = wandb.Settings(
            mode="offline",
            console="off",
            save_code=False,
            disable_code=True,
            disable_git=True,
            x_disable_stats=True,
            x_disable_meta=True,
            x_disable_machine_info=True,
            silent=True,
        )
        self._run: Any = wandb.init(
            dir=str(self.directory),
            project="behemoth",
            name=run,
            config=dict(config),
            settings=settings,
            reinit="create_new",
        )

    @property
    def run_dir(self) -> Path:
        """The offline run's directory (``<directory>/wandb/offline-run-<time>-<id>``)."""
        return Path(self._run.dir).parent

    def log(self, values: Mapping[str, Scalar], step: int) -> None:
        self._run.log({k: float(v) for k, v in values.items()}, step=step)

    def hparams(self, params: Mapping[str, Any], metrics: Mapping[str, Scalar]) -> None:
        self._run.config.update({k: _scalar_value(v) for k, v in params.items()})
        self._run.summary.update({k: float(v) for k, v in metrics.items()})

    def close(self) -> None:
        """Finish the run, then wait until it is on disk: ``finish`` returns before wandb's
        service has written the run's records (measured: a 7-byte ``.wandb`` file right after
        it), ``wandb.teardown`` stops the service once it has (a next run starts another)."""
        if self._run is not None:
            import wandb

            self._run.finish()
            self._run = None
            wandb.teardown()


@dataclass(frozen=True)
class LogTarget:
    """Where logging goes: a backend and its directory (checked, its package importable)."""

    backend: str
    directory: Path

    @classmethod
    def of(
        cls, backend: str, directory: str | Path | None, out: str | Path, field: str = "--log"
    ) -> LogTarget:
        """The target of ``backend`` for the output ``out`` (default directory: ``<out>.<backend>``
        beside it); refuses a directory inside ``out`` (replaced or owned by the command) or a
        file, naming ``field``."""
        require(backend, field)
        out = Path(out).absolute()
        where = Path(directory) if directory else out.with_name(f"{out.name}.{backend}")
        resolved = where.absolute().resolve()
        if resolved == out.resolve() or out.resolve() in resolved.parents:
            raise ConfigError(
                field,
                f"the log directory {where} is inside the output {out}",
                "give a directory outside it (the default is <out>.<backend> beside it)",
            )
        if where.exists() and not where.is_dir():
            raise ConfigError(field, f"{where} is a file", "give a directory")
        return cls(backend, where)

    def open(
        self, run: str, config: Mapping[str, Any], start_step: int = 0, apart: bool = False
    ) -> Tracker:
        """A tracker of run ``run``; ``apart``: one of several runs (a sweep's), in
        ``<directory>/<run>`` where the backend needs a directory per run."""
        cls = BACKENDS[self.backend]
        where = self.directory / run if apart and cls.dir_per_run else self.directory
        if apart and cls is TensorBoardTracker:
            _clear_events(where)  # logged again: replace, never add a second copy
        return cls(where, run, config, start_step)


class TrainingLog:
    """The trainer's hook: :meth:`start` once the run's first step is known (0, or a resumed
    checkpoint's), :meth:`record` with every evaluation record (``step``, ``tokens``, ``lr``,
    ``train_loss``, ``epochs``, ``sets`` of ``{"acc", "loss"}``) and the run's cumulative wall
    seconds, :meth:`close` at the end (also when training fails)."""

    def __init__(self, target: LogTarget, run: str, config: Mapping[str, Any]) -> None:
        self.target, self.run, self.config = target, run, dict(config)
        self.tracker: Tracker | None = None
        self._last: tuple[int, float] | None = None  # (tokens, seconds) of the previous record

    def start(self, step: int, tokens: int, seconds: float) -> None:
        self.tracker = self.target.open(self.run, self.config, start_step=step)
        self._last = (tokens, seconds) if step else None

    def record(self, rec: Mapping[str, Any], seconds: float) -> None:
        if self.tracker is None:
            raise BehemothError("tracking: TrainingLog.record before start")
        self.tracker.log(training_scalars(rec, seconds, self._last), int(rec["step"]))
        self._last = (int(rec["tokens"]), float(seconds))

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None


def training_scalars(
    rec: Mapping[str, Any], seconds: float, last: tuple[int, float] | None
) -> dict[str, float]:
    """The scalars of one evaluation record of the trainer (see the module doc for the tags);
    ``last``: the (tokens, seconds) of the previous record, for ``train/tokens_per_s``."""
    out: dict[str, float] = {"train/lr": float(rec["lr"]), "train/tokens": float(rec["tokens"])}
    if rec.get("train_loss") is not None:
        out["train/loss"] = float(rec["train_loss"])
    if rec.get("epochs") is not None:
        out["train/epochs"] = float(rec["epochs"])
    if last is not None and seconds > last[1]:
        out["train/tokens_per_s"] = (int(rec["tokens"]) - last[0]) / (seconds - last[1])
    for name, values in rec.get("sets", {}).items():
        for key, v in values.items():
            out[f"probe/{name}/{key}"] = float(v)
    return out


def _clear_events(directory: Path) -> None:
    """Remove the TensorBoard event files a previous logging of the same run left in
    ``directory`` (only those: nothing else there is touched)."""
    if directory.is_dir():
        for f in directory.glob("events.out.tfevents.*"):
            f.unlink()


def sweep_scalars(rows: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, float]]:
    """One run's table rows -> {step: {tag: value}}: tag ``<group>/<metric>/<split>``, step the
    checkpoint (edits applied; the unedited model's ``pre`` rows at 0; null -> 0), rows without
    a value left out. Two rows on one (tag, step) (a pre and a post row at 0 edits) keep apart
    with their phase appended to the tag."""
    keyed: dict[tuple[str, int], list[tuple[str, float]]] = {}
    for r in rows:
        v = r.get("value")
        if v is None or v != v:  # null or NaN: nothing measured
            continue
        step = r.get("checkpoint")
        if step is None or step != step:
            step = r.get("edits_applied")
        step = 0 if step is None or step != step else int(step)
        tag = f"{r['group']}/{r['metric']}/{r['split']}" if r.get("split") else None
        if tag is None:
            tag = f"{r['group']}/{r['metric']}"
        phase = r.get("phase")
        keyed.setdefault((tag, step), []).append(("" if phase is None else str(phase), float(v)))
    out: dict[int, dict[str, float]] = {}
    for (tag, step), vals in sorted(keyed.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        for phase, v in vals:
            name = tag if len(vals) == 1 else f"{tag}/{phase or 'none'}"
            out.setdefault(step, {})[name] = v
    return out


@dataclass(frozen=True)
class SweepLogged:
    """What :func:`log_sweep` wrote: runs, scalars, runs skipped (failed), where, seconds."""

    runs: int
    scalars: int
    failed: int
    directory: Path
    seconds: float


def log_sweep(table: str | Path, target: LogTarget) -> SweepLogged:
    """Log a sweep's finished table (``results.parquet``, or the sweep directory holding it) to
    ``target``: one tracker run per sweep run (``<directory>/<run_id>``), its scalars
    (:func:`sweep_scalars`) at each checkpoint, its labels, seed and replicate as hyperparameters
    with the last checkpoint's values as metrics. Failed runs are counted, not logged. Logging
    the same table again replaces what a previous logging wrote (TensorBoard's event files)."""
    import pandas as pd

    t0 = time.perf_counter()
    path = Path(table)
    if path.is_dir():
        path = path / "results.parquet"
    if not path.is_file():
        raise BehemothError(f"--log: {path} does not exist; the sweep has no finished run to log")
    df = pd.read_parquet(path)
    labels = sorted(c for c in df.columns if c.startswith("label_"))
    runs = scalars = failed = 0
    for run_id, rows in df.groupby("run_id", sort=True):
        if (rows["status"] != "ok").any():
            failed += 1
            continue
        first = rows.iloc[0]
        params: dict[str, Any] = {c.removeprefix("label_"): str(first[c]) for c in labels}
        params["seed"] = int(first["seed"])
        params["replicate"] = int(first["replicate"])
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        steps = sweep_scalars(records)
        tracker = target.open(str(run_id), params, apart=True)
        try:
            final: dict[str, float] = {}
            for step, values in steps.items():  # in step order
                tracker.log(values, step)
                final.update(values)
                scalars += len(values)
            tracker.hparams(params, final)
        finally:
            tracker.close()
        runs += 1
    return SweepLogged(runs, scalars, failed, target.directory, time.perf_counter() - t0)


def from_flag(values: list[str] | None, out: str | Path) -> LogTarget | None:
    """The target of a command's ``--log BACKEND [DIR]`` (None when not given)."""
    if not values:
        return None
    if len(values) > 2:
        raise ConfigError(
            "--log",
            f"takes BACKEND [DIR], not {len(values)} values",
            f"e.g. --log tensorboard runs/ (backends: {', '.join(BACKENDS)})",
        )
    return LogTarget.of(values[0], values[1] if len(values) == 2 else None, out)


def how_to_view(target: LogTarget) -> str:
    """One line: where the logs are and the command that shows them."""
    if target.backend == "tensorboard":
        return f"tensorboard --logdir {target.directory}"
    return (
        f"W&B offline runs in {target.directory / 'wandb'} "
        f"(upload when wanted: wandb sync {target.directory / 'wandb'}/offline-run-*)"
    )


def add_log_arg(parser: Any, what: str) -> None:
    """``--log BACKEND [DIR]`` on a command's parser; ``what``: what it logs."""
    parser.add_argument(
        "--log",
        nargs="+",
        metavar=("BACKEND", "DIR"),
        default=None,
        help=f"log {what} to tensorboard or wandb (offline), in DIR (default: <out>.<backend> "
        f"beside --out); needs the extra {EXTRA!r}",
    )
