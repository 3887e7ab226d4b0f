"""The retain oracle: the same model trained from scratch on the world without a forget set.

Unlearning benchmarks (TOFU, Maini et al. 2024, Sec. 2.2; MUSE, Shi et al. 2024) judge an
unlearned model against a "retain model" trained without the forget data, which on real data
they can rarely afford. Here it is one more training run: the original model's config and seed,
a corpus in which every sentence stating a forgotten edge is replaced, in place, by padding of
its length (:mod:`behemoth.world.exclude`), and exactly the original's number of optimizer
steps (same token budget, same learning-rate schedule; early stopping is off since the
forgotten facts can no longer reach the target accuracy). Every retained token sits where it
sits in the original's stream, so the oracle reads each retained fact exactly as often as the
original, at the same steps (issue 21; ``tests/world/test_oracle_exposure.py`` counts it).

Replicates: ``replicate=i`` trains the oracle of the i-th replicate of the recipe
(:meth:`behemoth.model.config.RunConfig.replicate`: another weight initialization and data
order). Two oracles (replicates 0 and 1) give the noise floor of every forget-quality and
membership figure (:func:`behemoth.evaluation.unlearning.report.summarize`, ``oracle2``): how
far apart two models that never saw the forget set already are.

Oracles are cached on disk by (world fingerprint, run config, seed, steps, forget-set hash,
exposure protocol): every method and run that forgets the same facts reuses one model. The
cache directory is always the caller's (never read from the environment); a run is judged
against its oracles by one evaluation step,
:func:`behemoth.evaluation.unlearning.judge.judge_unlearning` (``behemoth edit --oracle``, a
sweep's ``oracle: true``, the unlearning study).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from behemoth.io import read_json
from behemoth.model.config import RunConfig
from behemoth.model.export import META
from behemoth.model.load import check_world, read_model_meta
from behemoth.world.exclude import exclusion_mask, mask_hash
from behemoth.world.world import World

log = logging.getLogger(__name__)


#: How the oracle's stream leaves facts out (part of the cache key): "padded" = excluded
#: sentences replaced by padding in place (earlier oracles dropped them and repacked).
EXPOSURE = "padded"


def oracle_plan(
    meta: dict[str, Any], world: World, mask: np.ndarray, replicate: int = 0
) -> tuple[RunConfig, int, str]:
    """(run config, steps, cache key) of the oracle of the model described by ``meta``, for
    replicate ``replicate`` of its recipe (0 = the original's own seeds)."""
    data = json.loads(json.dumps(meta["config"]))
    data["train"]["target_accuracy"] = None  # the budget, not the probes, ends the run
    data["train"]["data"] = "stream"  # the shards' own stream, rendered with the exclusion
    cfg = RunConfig.from_dict(data).replicate(replicate)
    steps = int(meta["result"]["steps"])
    ident = json.dumps(
        {
            "world": world.fingerprint,
            "config": cfg.to_dict(),
            "steps": steps,
            "forget": mask_hash(mask),
            "exposure": EXPOSURE,
        },
        sort_keys=True,
    )
    return cfg, steps, hashlib.sha256(ident.encode()).hexdigest()[:16]


def retain_oracle(
    model_dir: str | Path,
    world: World,
    so_edges: np.ndarray,
    sno_edges: np.ndarray | None = None,
    *,
    cache_dir: str | Path,
    progress: bool = False,
    replicate: int = 0,
) -> Path:
    """Directory of the oracle of the model in ``model_dir`` for the forget set given as flat
    S-O edge ids ``s * R + r`` (and S-NO consequences ``sno_edges``); trained once, then read
    from the cache ``cache_dir`` (the caller's: e.g. a sweep's ``<shared>/oracles``; never read
    from the environment). An interrupted oracle run resumes where it stopped. ``replicate``: the
    oracle of that replicate of the recipe (another init and data order; see module doc)."""
    from behemoth.model.train import train_model

    meta = read_model_meta(model_dir)
    check_world(meta, world)
    mask = exclusion_mask(world.graph, so_edges, sno_edges)
    cfg, steps, key = oracle_plan(meta, world, mask, replicate)
    out = Path(cache_dir) / key
    if (out / META).is_file():
        log.info("retain oracle %s found in the cache", key)
        return out
    log.info("training the retain oracle %s (%d steps, %d facts left out)", key, steps, mask.sum())
    return train_model(
        world, cfg, out, resume=True, progress=progress, exclude=mask, until_step=steps
    )


def training_seconds(model_dir: str | Path) -> float:
    """Wall-clock seconds the training run of ``model_dir`` took (its provenance)."""
    prov = read_json(Path(model_dir) / "provenance.json")
    return float(prov.get("seconds", prov.get("extra", {}).get("seconds", float("nan"))))
