"""Evaluation: one batched scoring function, then pure metric functions over its results.

``evaluate(model, world, scenario, reference_model=None)`` -> :class:`Records` (tidy rows and
per-item values, ``.table()``, ``.write(dir)``); ``evaluate_probes`` scores every probe of a
world; ``measure_cost`` / ``weight_delta_metrics`` / ``param_deltas`` measure an edit's cost.
Every row has n and a 95% interval (``wilson``, ``bootstrap_mean``, ``bootstrap``);
``over_seeds`` summarizes a scenario repeated over seeds.
"""

from behemoth.evaluation.cost import EditCost, measure_cost, param_deltas, weight_delta_metrics
from behemoth.evaluation.evaluate import evaluate, evaluate_probes, reference_scores
from behemoth.evaluation.metrics import METRICS, Metric, Scored, get_metric, register_metric
from behemoth.evaluation.records import PROTOCOL, PROTOCOL_VERSION, Records, read_records
from behemoth.evaluation.scoring import Scores, probe_accuracy, score
from behemoth.evaluation.uncertainty import bootstrap, bootstrap_mean, over_seeds, wilson

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
    "bootstrap_mean",
    "evaluate",
    "evaluate_probes",
    "get_metric",
    "measure_cost",
    "over_seeds",
    "param_deltas",
    "probe_accuracy",
    "read_records",
    "reference_scores",
    "register_metric",
    "score",
    "weight_delta_metrics",
    "wilson",
]
