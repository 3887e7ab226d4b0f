"""Exposure bands: scenarios that choose facts by how often the corpus states them (issue 25).

Kandpal et al. (2023, "Large Language Models Struggle to Learn Long-Tail Knowledge", Sec. 3-4)
measure a model's knowledge of a fact against the number of its training documents; editing
and unlearning results can be cut the same way. A world records each fact's occurrences per
corpus pass (:func:`behemoth.world.exposure.fact_exposure`); a scenario's ``exposure`` setting
(:class:`ExposureBands`) restricts

- ``edit``: the facts edited, refused or forgotten, and
- ``test``: the untouched facts tested: the specificity splits (``same_subject``,
  ``same_value``, ``same_new_value``, ``same_relation``, ``other``, ``holders``, on which
  locality is measured too) and the held-out facts of forget scenarios,

to a band of exposure quantiles ``[lo, hi]``. Tests of the edited facts themselves (efficacy,
generalization, portability, forgetting, membership) follow the edited facts; O-NO test sets
are not S-O facts and are not banded. The retain mix and the editor facts are drawn as without
a band (the banded test splits are a subset of the unbanded ones), so no editor input can
become a test fact.

Quantiles are over ranks, so a band always holds its share of the facts however many tie: the
world's ``n`` S-O facts (``s * R + r``, :mod:`behemoth.world.exclude`) are ordered by exposure,
ties by fact id (a deterministic order; which facts tie is itself random, as the exposure plan
ranks facts in a seeded random order), and the band ``[lo, hi]`` holds the facts at positions
``floor(lo * n) .. floor(hi * n) - 1`` of that order (``hi = 1``: up to the last). So
``[0, 0.1]`` is the rarest tenth of the facts and ``[0.9, 1]`` the most frequent tenth.
``forget-subjects`` forgets whole subjects: there subjects are ranked instead, by the total
exposure of their S-O facts (ties by subject id).

A world whose facts are all stated equally often (a uniform exposure plan where every fact
appears in the same templates, as in the ``tiny`` preset) has no band to choose: a band there is
refused, not ignored, since a silent no-op would label results with a selection that never
happened. (A uniform plan whose facts still differ in occurrences, e.g. questions for some
subjects, is banded by those real counts.)
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, model_validator

from behemoth.config import StrictConfig
from behemoth.errors import ConfigError
from behemoth.world.exposure import fact_exposure
from behemoth.world.probes import ProbeSet
from behemoth.world.world import World

Band = tuple[float, float]


class ExposureBands(StrictConfig):
    """Quantile bands of per-fact exposure: ``edit`` restricts the edited (or forgotten)
    facts, ``test`` the untouched facts tested; null = no restriction."""

    edit: Band | None = Field(
        None, description="Quantiles [lo, hi] of exposure the edited/forgotten facts come from."
    )
    test: Band | None = Field(
        None, description="Quantiles [lo, hi] of exposure the untouched test facts come from."
    )

    @model_validator(mode="after")
    def _check(self) -> ExposureBands:
        for name in ("edit", "test"):
            band = getattr(self, name)
            if band is None:
                continue
            lo, hi = band
            if not (0.0 <= lo < hi <= 1.0):
                raise ConfigError(
                    f"exposure.{name}",
                    f"[{lo:g}, {hi:g}] is no band of quantiles",
                    "give [lo, hi] with 0 <= lo < hi <= 1, e.g. [0, 0.1]",
                )
        if self.edit is None and self.test is None:
            raise ConfigError(
                "exposure.edit",
                "is not given, nor is exposure.test: the setting names no band",
                "give exposure.edit and/or exposure.test as [lo, hi], or drop exposure",
            )
        return self


def so_exposure(world: World) -> np.ndarray:
    """int64 [S * R]: occurrences of each S-O fact ``s * R + r`` per corpus pass (the first
    ``S * R`` entries of :func:`behemoth.world.exposure.fact_exposure`)."""
    return world_fact_exposure(world)[: world.graph.n_subjects * world.graph.n_relations]


def world_fact_exposure(world: World) -> np.ndarray:
    """:func:`behemoth.world.exposure.fact_exposure` of ``world`` (every fact id; the world
    object reads its table once, so a stream evaluated at many checkpoints reads it once)."""
    return fact_exposure(world)


def rank_band(values: np.ndarray, band: Band) -> np.ndarray:
    """bool mask over ``values``: the units at rank positions ``floor(lo * n)`` to
    ``floor(hi * n) - 1`` of the order by value, ties by index (see the module docstring)."""
    v = np.asarray(values)
    n = len(v)
    order = np.lexsort((np.arange(n), v))  # by value, then by index
    lo, hi = band
    a = math.floor(lo * n + 1e-9)
    b = n if hi >= 1.0 else math.floor(hi * n + 1e-9)
    out = np.zeros(n, dtype=bool)
    out[order[a:b]] = True
    return out


def _check_varied(world: World, values: np.ndarray, field: str) -> None:
    if len(values) and int(values.min()) == int(values.max()):
        raise ConfigError(
            field,
            f"every fact of this world is stated {int(values.min())} times per pass, so an "
            "exposure band chooses nothing",
            "use a world with exposure kind zipf or head_tail (preset zipf), or drop exposure",
        )


def fact_band(world: World, band: Band | None, field: str) -> np.ndarray:
    """[S, R] bool: S-O facts in ``band`` of the world's exposure quantiles (all when None).
    A band on a world whose facts all have one exposure is refused, naming ``field``."""
    S, R = world.graph.n_subjects, world.graph.n_relations
    if band is None:
        return np.ones((S, R), dtype=bool)
    e = so_exposure(world)
    _check_varied(world, e, field)
    return rank_band(e, band).reshape(S, R)


def subject_band(world: World, band: Band | None, field: str) -> np.ndarray:
    """[S] bool: subjects in ``band`` of the quantiles of their facts' total exposure."""
    S, R = world.graph.n_subjects, world.graph.n_relations
    if band is None:
        return np.ones(S, dtype=bool)
    total = so_exposure(world).reshape(S, R).sum(axis=1)
    _check_varied(world, total, field)
    return rank_band(total, band)


def edit_band(bands: ExposureBands | None) -> Band | None:
    return None if bands is None else bands.edit


def tested_band(bands: ExposureBands | None) -> Band | None:
    return None if bands is None else bands.test


def too_few(field: str, have: int, need: int, what: str) -> ConfigError:
    """The error of a band holding fewer facts than the scenario needs."""
    return ConfigError(
        field,
        f"the band holds {have} {what}, fewer than the {need} needed",
        "widen the band or ask for fewer edits",
    )


def refuse_bands(bands: ExposureBands | None, scenario: str) -> None:
    """Refuse ``exposure`` in a scenario that does not choose by exposure."""
    if bands is not None:
        raise ConfigError(
            "exposure",
            f"scenario {scenario} does not choose facts by exposure",
            "drop exposure, or use single, k-different, k-identical, stream, refusal, "
            "forget-relation, forget-facts or forget-subjects",
        )


def item_exposure(world: World, probes: ProbeSet) -> np.ndarray:
    """int64 [n]: per prompt, the corpus occurrences per pass of the fact it asks about, -1
    where it asks about none of the world's facts. The fact id follows
    :func:`behemoth.world.exclude.fact_ids` by the set's kind: S-O (subject, relation); S-NO
    the nested consequence of (subject, relation); O-NO (relation, the object in the subject
    slot). A prompt with no subject in an S-O or S-NO set (an unmatched reference line) has
    none."""
    from behemoth.world.exclude import KIND_ONO, KIND_SNO, KIND_SO, fact_ids

    n = len(probes)
    kind = {"S-O": KIND_SO, "S-NO": KIND_SNO, "O-NO": KIND_ONO}.get(probes.kind)
    if kind is None or n == 0:
        return np.full(n, -1, dtype=np.int64)
    subj = np.asarray(probes.subject, dtype=np.int64)
    rel = np.asarray(probes.relation, dtype=np.int64)
    obj = np.asarray(probes.object, dtype=np.int64)
    g = world.graph
    S, R = g.n_subjects, g.n_relations
    ok = (rel >= 0) & (rel < R)
    if kind == KIND_ONO:
        ok &= (obj >= 0) & (obj < g.nested_of.shape[1])
    else:
        ok &= (subj >= 0) & (subj < S)
    z = np.zeros(n, dtype=np.int64)
    ids = fact_ids(
        g, np.full(n, kind), np.where(ok, subj, z), np.where(ok, rel, z), np.where(ok, obj, z)
    )
    return np.where(ok, world_fact_exposure(world)[ids], -1).astype(np.int64)
