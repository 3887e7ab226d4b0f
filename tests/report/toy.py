"""The sweep tests' toy run function, with the rows a report needs as real runs write them.

:func:`tests.experiments.sweep.toy.toy` writes a forget scenario's ``forget_accuracy`` on split
``sro``; real forget scenarios of one template write it on ``forgotten``
(``scenarios/suite.py``, ``_efficacy``), the split the report's unlearning plot reads. Real runs
also keep the unedited model's scores once per run (``phase: pre``), which the sequential
plot draws at 0 edits. This wrapper adds both, so the report is tested on the table it gets.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from behemoth.experiments.sweep.execute import RunOutput
from tests.experiments.sweep.toy import toy as sweep_toy

TOY_FN = "tests.report.toy:toy"


def toy(config: dict[str, Any], run_id: str, shared: Path) -> RunOutput:
    out = sweep_toy(config, run_id, shared)
    rows = []
    for r in out.rows:
        r = {"phase": "post", **r}  # every row names its phase (rows.parquet keeps the first
        # row's columns only: a key missing there is dropped from every row)
        if r["metric"] == "forget_accuracy" and r["split"] == "sro":
            r = {**r, "split": "forgotten"}
        rows.append(r)
    first = min((r["checkpoint"] for r in rows if r["group"] != "cost"), default=None)
    rows += [
        {**r, "phase": "pre", "value": 0.0 if r["group"] == "efficacy" else 0.95}
        for r in rows
        if r["checkpoint"] == first and r["metric"] in ("efficacy", "specificity")
    ]
    return replace(out, rows=rows)
