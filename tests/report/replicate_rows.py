"""A synthetic results table over trained replicates (no model, no sweep), for report tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: Edit success of each editor on the edited prompt, per replicate (0..4).
SUCCESS = {"rome": (0.8, 0.7, 1.0, 0.4, 0.9), "ft": (0.6, 0.9, 0.5, 0.6, 0.7)}
#: Accuracy on other subjects' facts of the edited relation, per replicate, after editing.
KEPT = {"rome": (0.90, 0.88, 0.97, 0.60, 0.93), "ft": (0.70, 0.72, 0.75, 0.69, 0.71)}
#: ... and before editing (the unedited replicate).
UNEDITED = (0.92, 0.90, 0.97, 0.85, 0.94)
N_EDITS = 10
N_KEPT = 50


def row(
    label: str,
    rep: int | None,
    metric: str,
    group: str,
    split: str,
    value: float,
    n: int,
    **kw: Any,
) -> dict[str, Any]:
    r = {
        "run_id": f"{label}-r{rep}",
        "status": "ok",
        "label_world": "w",
        "label_model": "tiny",
        "label_scenario": "10 different",
        "label_editor": label,
        "editor": label,
        "seed": 0,
        "config": "{}",
        "metric": metric,
        "group": group,
        "split": split,
        "phase": "post",
        "checkpoint": N_EDITS,
        "value": value,
        "n": n,
        "ci_low": None,
        "ci_high": None,
        "higher_is_better": True,
    }
    if rep is not None:
        r["replicate"] = rep
    r.update(kw)
    return r


def replicate_rows(reps: int = 5) -> list[dict[str, Any]]:
    rows = []
    for ed in SUCCESS:
        for i in range(reps):
            rows.append(row(ed, i, "efficacy", "efficacy", "sro", SUCCESS[ed][i], N_EDITS))
            rows.append(
                row(ed, i, "specificity", "specificity", "same_relation", KEPT[ed][i], N_KEPT)
            )
            rows.append(
                row(
                    ed,
                    i,
                    "specificity",
                    "specificity",
                    "same_relation",
                    UNEDITED[i],
                    N_KEPT,
                    phase="pre",
                )
            )
    return rows


def write_results(rows: list[dict[str, Any]], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out / "results.parquet")
    return out
