"""The one batched scorer, for evaluation code: it lives in :mod:`behemoth.model.scoring`, below
every stage that scores a model (training evaluation included)."""

from behemoth.model.scoring import Scores, probe_accuracy, score

__all__ = ["Scores", "probe_accuracy", "score"]
