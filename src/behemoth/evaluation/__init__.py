"""Evaluation: one batched scoring function, then pure metric functions over its results."""

from behemoth.evaluation.scoring import Scores, probe_accuracy, score

__all__ = ["Scores", "probe_accuracy", "score"]
