"""Evaluation: one batched scoring function, then pure metric functions over its results.

``evaluate(model, world, scenario, reference_model=None)`` -> :class:`Records` (tidy rows and
per-item values, ``.table()``, ``.write(dir)``); ``evaluate_probes`` scores every probe of a
world; ``measure_cost`` / ``param_deltas`` measure an edit's cost.
Every row has n, a 95% interval and ``interval``, the name of the method that produced it
(:mod:`behemoth.evaluation.uncertainty`: ``item_interval`` picks Wilson for independent 0/1 items,
the bootstrap clustered by edit wherever items share an edit, and names degenerate cases;
``bootstrap_interval`` for other statistics); ``over_seeds`` summarizes a scenario repeated over
seeds (across trained models: :mod:`behemoth.replicates`). ``Records.to_pandas()`` or
``pd.read_parquet`` of the written ``records.parquet`` / ``items.parquet`` loads results.
"""

from behemoth.evaluation.cost import EditCost, measure_cost, param_deltas
from behemoth.evaluation.evaluate import evaluate, evaluate_probes, reference_scores
from behemoth.evaluation.metrics import METRICS, Metric, Scored, get_metric, register_metric
from behemoth.evaluation.records import PROTOCOL, PROTOCOL_VERSION, Records, read_records
from behemoth.evaluation.uncertainty import (
    bootstrap,
    bootstrap_interval,
    bootstrap_mean,
    item_interval,
    metric_bounds,
    over_seeds,
    wilson,
)
from behemoth.model.scoring import Scores, probe_accuracy, score

__all__ = [
    "METRICS",
    "PROTOCOL",
    "PROTOCOL_VERSION",
    "EditCost",
    "Metric",
    "Records",
    "Scored",
    "Scores",
    "bootstrap",
    "bootstrap_interval",
    "bootstrap_mean",
    "evaluate",
    "evaluate_probes",
    "get_metric",
    "item_interval",
    "measure_cost",
    "metric_bounds",
    "over_seeds",
    "param_deltas",
    "probe_accuracy",
    "read_records",
    "reference_scores",
    "register_metric",
    "score",
    "wilson",
]
