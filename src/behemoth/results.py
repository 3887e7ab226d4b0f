"""Results into pandas in one line: ``behemoth.results.load(path)``.

``path`` is a sweep's ``--out`` (its ``results.parquet``; ``what="items"`` its ``items.parquet``:
every item's value at every checkpoint, with run id and labels), one run's directory
(``records.parquet`` / ``items.parquet``) or a Parquet file. Every row of a sweep names its
trained model: ``label_world``, ``label_model`` and ``replicate``.

The columns of each table are fixed: ``docs/results_schema.md`` lists them (generated from
:mod:`behemoth.evaluation.schema`, whose ``RECORD_SCHEMA``, ``SWEEP_SCHEMA``, ``ITEM_SCHEMA`` and
``SWEEP_ITEM_SCHEMA`` are the pyarrow schemas the files are written with).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from behemoth.errors import BehemothError

if TYPE_CHECKING:
    import pandas as pd

_FILES = {"rows": ("results.parquet", "records.parquet"), "items": ("items.parquet",)}


def load(path: str | Path, what: Literal["rows", "items"] = "rows") -> pd.DataFrame:
    """The rows (aggregates) or the items of a sweep or a run, as a pandas DataFrame."""
    import pandas as pd

    p = Path(path)
    if what not in _FILES:
        raise BehemothError(f"what: {what!r} is not one of rows, items")
    if p.is_file():
        return pd.read_parquet(p)
    for name in _FILES[what]:
        if (p / name).is_file():
            return pd.read_parquet(p / name)
    raise BehemothError(
        f"path: {p} holds no {' or '.join(_FILES[what])}; give a sweep's --out or a run's directory"
    )
