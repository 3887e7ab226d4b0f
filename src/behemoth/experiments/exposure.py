"""The ``exposure`` study (issue 25): how well each fact is learned against how often it was seen.

:func:`score_facts` scores one trained model on every S-O fact of its world: the world's probe
set of the trained statement template (``sro``, or the trained template of a ``simple_repeats``
or ``nonsense`` world, ``behemoth.world.probes.probe_templates``) holds one prompt per edge, row
``s * R + r``, which is the S-O fact id of ``behemoth.world.exclude.fact_ids``; the batched
scorer (``behemoth.model.scoring.score``) gives the greedy next token (``correct``: it is the
object's answer token, the paper's probe accuracy per fact) and the object's log-probability
(``loss`` = its negative, in nats). ``exposure`` is ``behemoth.world.exposure.fact_exposure``
at the fact. The per-fact frame is what ``behemoth.analysis.exposure.learning_curves`` bins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch

    from behemoth.world import World


def score_facts(
    model: torch.nn.Module, world: World, replicate: int = 0, batch_size: int = 1024
) -> pd.DataFrame:
    """One row per S-O fact: ``replicate, fact, subject, relation, exposure, correct, loss``."""
    from behemoth.model.scoring import score
    from behemoth.world.exclude import fact_ids
    from behemoth.world.exposure import fact_exposure
    from behemoth.world.probes import KIND_SO, probe_templates

    template = probe_templates(world.config)[0][0]
    probes = world.probes[template]
    got = score(model, probes, probes.answer, batch_size=batch_size)
    kind = np.full(len(probes), KIND_SO, dtype=np.int64)
    ids = fact_ids(world.graph, kind, probes.subject, probes.relation, probes.object)
    counts = fact_exposure(world)
    return pd.DataFrame(
        {
            "replicate": np.full(len(probes), replicate, dtype=np.int64),
            "fact": ids.astype(np.int64),
            "subject": probes.subject.astype(np.int64),
            "relation": probes.relation.astype(np.int64),
            "exposure": counts[ids].astype(np.int64),
            "correct": got.correct(probes.answer),
            "loss": -got.target_logprob[:, 0],
        }
    )
