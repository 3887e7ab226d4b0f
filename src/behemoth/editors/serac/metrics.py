"""SERAC's two headline figures (Mitchell et al. 2022, Sec. 4), from an evaluation's records.

- **Edit success** (ES): accuracy on in-scope inputs, i.e. the edited prompts and the edited
  facts in every other format together (the ``efficacy`` and ``generalization`` items), weighted
  by their number of items.
- **Drawdown** (DD): accuracy lost on out-of-scope inputs, i.e. the per-item ``drawdown`` metric
  (unedited model right minus edited model right) over every ``specificity`` split.

Both are item-weighted means of rows the shared evaluation suite already produced, so they sit
next to its figures without a second scoring pass. Only post-edit rows count: the suite also
reports the unedited model on the same items (``phase="pre"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _weighted(rows: Iterable[dict[str, Any]], metric: str, groups: tuple[str, ...]) -> float:
    num = den = 0.0
    for r in _post(rows):
        if r["metric"] == metric and r["group"] in groups:
            num += float(r["value"]) * int(r["n"])
            den += int(r["n"])
    return num / den if den else float("nan")


def _post(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("phase", "post") == "post"]


def edit_success(rows: Iterable[dict[str, Any]]) -> float:
    """Item-weighted in-scope accuracy over the efficacy and generalization rows."""
    rows = _post(rows)
    num = den = 0.0
    for metric, group in (("efficacy", "efficacy"), ("generalization", "generalization")):
        v = _weighted(rows, metric, (group,))
        n = sum(int(r["n"]) for r in rows if r["metric"] == metric and r["group"] == group)
        if n:
            num += v * n
            den += n
    return num / den if den else float("nan")


def drawdown(rows: Iterable[dict[str, Any]]) -> float:
    """Item-weighted accuracy lost over the specificity rows (needs the reference scores)."""
    return _weighted(rows, "drawdown", ("specificity",))
