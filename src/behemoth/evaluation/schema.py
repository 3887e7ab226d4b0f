"""The one fixed schema of result rows and item rows (what every Parquet table of results holds).

Four tables, each a fixed list of :class:`Column` (name, Arrow type, nullable, meaning):

- :data:`RECORD_COLUMNS`: a run's ``records.parquet`` / ``records.jsonl`` (``behemoth edit``,
  ``behemoth evaluate``): one row per run x metric x split x phase x checkpoint.
- :data:`SWEEP_COLUMNS`: a sweep's ``results.parquet`` and each ``runs/<id>/rows.parquet``: the
  record columns (without ``run``: ``run_id`` says it) with the run's identity in front
  (``run_id``, ``status``, ``error``, its labels, ``config``) and ``checkpoint``. Besides these,
  a sweep table may hold columns of one prefix family, :data:`LABEL_PREFIX` (``label_<axis>``,
  a string): the label of a sweep axis beyond world, model, scenario and editor, so a new axis
  of a spec needs no schema change. Settings are never spread into columns: ``config`` holds the
  run's whole resolved config as canonical JSON (``json.loads`` it, or
  ``pd.json_normalize``), so a typo in a setting cannot add a column either.
- :data:`ITEM_COLUMNS`: a run's ``items.parquet``, one row per item of every metric row.
- :data:`SWEEP_ITEM_COLUMNS`: a sweep's ``items.parquet`` and ``runs/<id>/items.parquet``.

:func:`conform` turns rows (dicts) into a table of exactly one schema: a missing nullable
column is written null, an unknown column is refused with its name (and the closest known one),
a null in a column that may not hold one is refused with the row. :func:`conform_table` does
the same for a table. :class:`ResultRow` is the typed form of one record row, :class:`SweepRow`
of a sweep table's row (a test keeps both equal to the columns).

``docs/results_schema.md`` is :func:`schema_markdown`'s output (a test keeps them equal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import pyarrow as pa

from behemoth.errors import BehemothError, ConfigError, suggest


@dataclass(frozen=True)
class Column:
    """One column of a results table: its name, Arrow type, whether it may be null, and what it
    holds (one line)."""

    name: str
    type: pa.DataType
    nullable: bool
    meaning: str

    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable)


def _c(name: str, typ: pa.DataType, nullable: bool, meaning: str) -> Column:
    return Column(name, typ, nullable, meaning)


_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()  # the four types used

#: The identity of a record row: which protocol, run, world, scenario, editor and checkpoint.
_IDENTITY = (
    _c("protocol", _S, False, "the evaluation protocol that produced the row (behemoth-eval)"),
    _c("protocol_version", _I, False, "its version; bumped whenever a metric's definition changes"),
    _c("run", _S, False, "the run's name (a sweep's run id, else the model directory's name)"),
    _c("world", _S, False, "the fingerprint of the world the model was trained on"),
    _c("scenario", _S, False, "the scenario whose test set was scored ('' for probe rows)"),
    _c("mode", _S, False, "the scenario's mode, e.g. edit or forget ('' for probe rows)"),
    _c("editor", _S, True, "the editor applied (null: the unedited model was evaluated)"),
    _c("seed", _I, True, "the run's seed (scenario and editor); null when it has none"),
    _c("replicate", _I, True, "the trained model replicate (0: the model itself)"),
    _c("phase", _S, True, "pre: the unedited model, post: the edited one (null: probe rows)"),
    _c("edits_applied", _I, True, "edits applied when measured (0 for pre rows; null: probes)"),
    _c("batches_applied", _I, True, "batches of the stream applied when measured"),
)

#: What a record row measured: the metric, its test set, its value, n and 95% interval.
_MEASURE = (
    _c("metric", _S, False, "the metric's registered name, e.g. efficacy, update_fro"),
    _c("group", _S, False, "the test set's group: efficacy, specificity, world, cost, ..."),
    _c("split", _S, False, "the test set within its group (never pooled across splits)"),
    _c("family", _S, False, "the metric's family: accuracy, probability, cost, unlearning, ..."),
    _c("higher_is_better", _B, True, "the direction of better (null: neither, see ideal)"),
    _c("ideal", _F, True, "the ideal value when it is neither end (e.g. 0.5 for an AUC)"),
    _c("aggregation", _S, False, "how items became the value: mean, harmonic_mean, value, ..."),
    _c("value", _F, True, "the figure (null: not applicable, no item counted)"),
    _c("n", _I, False, "items counted in the value"),
    _c("ci_low", _F, True, "lower end of the 95% interval (null: none)"),
    _c("ci_high", _F, True, "upper end of the 95% interval (null: none)"),
    _c("interval", _S, True, "the method of the interval (see evaluation.uncertainty)"),
)

#: A run's ``records.parquet`` (``behemoth edit`` / ``behemoth evaluate``).
RECORD_COLUMNS: tuple[Column, ...] = _IDENTITY + _MEASURE

#: Columns of a sweep table ahead of the record columns: the run it belongs to.
_SWEEP_RUN = (
    _c("run_id", _S, False, "the run's id: editor name and the hash of its resolved config"),
    _c("status", _S, False, "ok, or failed (then one row, metric run_failed, with the error)"),
    _c("error", _S, True, "why the run failed (null: it did not)"),
    _c("label_world", _S, False, "the spec's label of the world"),
    _c("label_model", _S, False, "the spec's label of the model"),
    _c("label_scenario", _S, False, "the spec's label of the scenario"),
    _c("label_editor", _S, False, "the spec's label of the editor (with its grid values)"),
    _c("config", _S, False, "the run's resolved config as canonical JSON"),
)

#: Record columns a sweep row keeps: ``run`` goes (``run_id`` says it); ``seed`` and
#: ``replicate`` are the run's own (never null); a failed run's single row and a custom run
#: function's rows may lack the evaluation's bookkeeping, so those are nullable in a sweep.
_SWEEP_REQUIRED = ("metric", "group", "split", "seed", "replicate")
_SWEEP_MEASURED = tuple(
    Column(c.name, c.type, c.name not in _SWEEP_REQUIRED, c.meaning)
    for c in RECORD_COLUMNS
    if c.name != "run"
)

#: A sweep's ``results.parquet`` and every run's ``rows.parquet``.
SWEEP_COLUMNS: tuple[Column, ...] = (
    _SWEEP_RUN
    + _SWEEP_MEASURED
    + (_c("checkpoint", _I, True, "edits applied when measured (0: the unedited model)"),)
)

#: The prefix family a sweep table allows beyond :data:`SWEEP_COLUMNS`: ``label_<axis>``, the
#: label (a string) of a further axis of the spec.
LABEL_PREFIX = "label_"

#: A run's ``items.parquet``: one row per item of every metric row, pre and post, at every
#: checkpoint.
ITEM_COLUMNS: tuple[Column, ...] = (
    _c("run", _S, False, "the run's name, as in its rows"),
    _c("metric", _S, False, "the metric, as in its row"),
    _c("group", _S, False, "the test set's group, as in its row"),
    _c("split", _S, False, "the test set's split, as in its row"),
    _c("phase", _S, False, "pre (the unedited model) or post"),
    _c("edits_applied", _I, True, "the checkpoint (0 for pre items, like their rows)"),
    _c("batches_applied", _I, True, "the stream's batches so far (null outside a stream)"),
    _c("item", _I, False, "the item's index in its test set at this checkpoint"),
    _c("edit", _I, False, "the edit the item belongs to (-1: none; the bootstrap's cluster)"),
    _c("subject", _I, False, "the item's subject entity"),
    _c("relation", _I, False, "the item's relation"),
    _c(
        "exposure",
        _I,
        True,
        "times the corpus states the item's fact per pass (null: no fact of the world)",
    ),
    _c("value", _F, True, "the item's value (null: not applicable)"),
    _c("seed", _I, True, "the run's seed (null: a lone evaluation)"),
    _c("replicate", _I, True, "the trained model replicate (null: a run on one model)"),
)

#: A sweep item's run: its id and labels (its status is ok, its config in the rows).
_SWEEP_ITEM_RUN = tuple(c for c in _SWEEP_RUN if c.name not in ("status", "error", "config"))

#: A sweep's ``items.parquet`` (every run's items with its id and labels) and each run's own.
SWEEP_ITEM_COLUMNS: tuple[Column, ...] = _SWEEP_ITEM_RUN + tuple(
    Column(c.name, c.type, c.nullable and c.name not in ("seed", "replicate"), c.meaning)
    for c in ITEM_COLUMNS
    if c.name != "run"
)


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """The pyarrow schema of ``columns`` (in their order)."""
    return pa.schema([c.field() for c in columns])


RECORD_SCHEMA = arrow_schema(RECORD_COLUMNS)
SWEEP_SCHEMA = arrow_schema(SWEEP_COLUMNS)
ITEM_SCHEMA = arrow_schema(ITEM_COLUMNS)
SWEEP_ITEM_SCHEMA = arrow_schema(SWEEP_ITEM_COLUMNS)


class _ResultKeys(TypedDict):
    metric: str
    group: str
    split: str


class ResultRow(_ResultKeys, total=False):
    """One record row as code builds it (the keys of :data:`RECORD_COLUMNS`): ``metric``,
    ``group`` and ``split`` always, the rest where known (a missing one is written null)."""

    protocol: str
    protocol_version: int
    run: str
    world: str
    scenario: str
    mode: str
    editor: str | None
    seed: int | None
    replicate: int | None
    phase: str | None
    edits_applied: int | None
    batches_applied: int | None
    family: str
    higher_is_better: bool | None
    ideal: float | None
    aggregation: str
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    interval: str | None


class SweepRow(ResultRow, total=False):
    """One row of a sweep table (the keys of :data:`SWEEP_COLUMNS`, ``run`` included: the store
    drops it for ``run_id``): a run function's row with its ``checkpoint``, to which the store
    adds the run's columns."""

    checkpoint: int | None
    run_id: str
    status: str
    error: str | None
    label_world: str
    label_model: str
    label_scenario: str
    label_editor: str
    config: str


def _plain(v: Any) -> Any:
    """A Python value for Arrow: numpy scalars unwrapped, NaN -> null."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _check_names(
    names: Iterable[str], columns: Sequence[Column], prefix: str | None, what: str
) -> list[str]:
    """Names outside ``columns`` allowed by ``prefix`` (sorted); any other is refused."""
    known = {c.name for c in columns}
    extra = []
    for name in names:
        if name in known:
            continue
        if prefix and name.startswith(prefix) and len(name) > len(prefix):
            extra.append(name)
            continue
        raise ConfigError(
            f"{what} column {name!r}",
            f"is not a column of the {what} schema (behemoth.evaluation.schema)",
            f"rename it or add it there; {suggest(name, known)}",
        )
    return sorted(set(extra))


def _check_nulls(table: pa.Table, columns: Sequence[Column], what: str) -> None:
    for c in columns:
        if not c.nullable and table[c.name].null_count:
            row = table[c.name].to_pylist().index(None)
            raise BehemothError(
                f"{what} column {c.name!r}: row {row} has none (null); every {what} row needs "
                f"one: set it where the row is built"
            )


def conform(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    what: str = "result",
    prefix: str | None = None,
) -> pa.Table:
    """``rows`` as a table of exactly ``columns`` (then the prefix family's, sorted by name):
    numpy scalars unwrapped, NaN written null, a missing column null. An unknown key (outside
    ``columns`` and ``prefix``) raises :class:`ConfigError` naming it; a null where ``columns``
    allows none, or a value of the wrong type, raises :class:`BehemothError` naming the column."""
    extra = _check_names(dict.fromkeys(k for r in rows for k in r), columns, prefix, what)
    fields = [c.field() for c in columns] + [pa.field(n, pa.string()) for n in extra]
    arrays = []
    for f in fields:
        values = [_plain(r.get(f.name)) for r in rows]
        try:
            arrays.append(pa.array(values, f.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise BehemothError(
                f"{what} column {f.name!r}: a value is not {f.type} ({e}); write it as {f.type}"
            ) from None
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    _check_nulls(table, columns, what)
    return table


def conform_table(
    table: pa.Table,
    columns: Sequence[Column],
    *,
    what: str = "item",
    prefix: str | None = None,
) -> pa.Table:
    """``table`` with exactly ``columns`` (cast to their types, a missing one null, then the
    prefix family's), refusing unknown columns and forbidden nulls as :func:`conform` does."""
    extra = _check_names(table.column_names, columns, prefix, what)
    fields = [c.field() for c in columns] + [pa.field(n, pa.string()) for n in extra]
    arrays = []
    for f in fields:
        if f.name in table.column_names:
            try:
                arrays.append(table[f.name].cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise BehemothError(
                    f"{what} column {f.name!r}: cannot be read as {f.type} ({e}); write it as "
                    f"{f.type}"
                ) from None
        else:
            arrays.append(pa.chunked_array([pa.nulls(table.num_rows, f.type)]))
    out = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    _check_nulls(out, columns, what)
    return out


#: Every documented table: (heading, file(s), columns, the prefix family it allows).
TABLES: tuple[tuple[str, str, tuple[Column, ...], str | None], ...] = (
    ("Run records", "`records.parquet`, `records.jsonl` of a run", RECORD_COLUMNS, None),
    (
        "Sweep results",
        "`results.parquet` of a sweep, `runs/<id>/rows.parquet`",
        SWEEP_COLUMNS,
        LABEL_PREFIX,
    ),
    ("Run items", "`items.parquet` of a run", ITEM_COLUMNS, None),
    (
        "Sweep items",
        "`items.parquet` of a sweep, `runs/<id>/items.parquet`",
        SWEEP_ITEM_COLUMNS,
        None,
    ),
)


def schema_markdown() -> str:
    """``docs/results_schema.md``: every table's columns, generated here so the doc cannot
    drift from the schema (``tests/evaluation/test_schema.py`` compares them)."""
    out = [
        "# Results schema",
        "",
        "Generated by `behemoth.evaluation.schema.schema_markdown()` from the schema module; do",
        "not edit by hand (a test compares this file with the generated text). Every table is",
        "written with exactly these columns, in this order: a missing nullable column is null, an",
        "unknown column is refused with its name. Load any of them with",
        '`behemoth.results.load(path)` (`what="items"` for items).',
        "",
    ]
    for title, files, columns, prefix in TABLES:
        out += [f"## {title}", "", f"{files}.", "", "| column | type | nullable | meaning |"]
        out.append("|---|---|---|---|")
        for c in columns:
            out.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.meaning} |")
        if prefix:
            out += [
                "",
                f"Also allowed, after these: any `{prefix}<axis>` column (string, nullable), the "
                "label of a further axis of the sweep spec. A run's settings are not spread into "
                "columns: `config` holds its resolved config as canonical JSON.",
            ]
        out.append("")
    return "\n".join(out)
