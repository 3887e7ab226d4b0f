"""The built-in edit scenarios: the reference's edit sets (Behemoth, "Edit (fine-tuning) sets").

Forget sets (``forget-relation`` and the others) are in :mod:`behemoth.scenarios.forget`; the
pieces both use (S-O requests, the finished scenario) in :mod:`behemoth.scenarios.compose`.

Each is a config (validated, unknown keys rejected) and a builder ``build(world, cfg)`` whose
randomness comes from ``derive_rng(cfg.seed, name)``. Choices that depend on the world (a
relation that does not exist, more edits than distinct values) raise ``ConfigError`` naming
the field and the fix.

Request conventions: an S-O edit carries object indices in ``old_object``/``new_object``; a
refusal or forget request has ``new_object = -1`` and its ``target_new`` is the refusal filler
``OO`` or the relation's placeholder object; an O-NO request (``nested-ono``) has subject -1,
carries *nested* object indices in ``old_object``/``new_object``, and the object whose nested
value changes is the token at ``subject_span[0]`` (:func:`~behemoth.scenarios.scenario.slot_object`).
In correlated worlds, edits of relation 0 get a ``portability/correlated`` test (relation 1 of
the same subjects: kept or followed?); in nested worlds every S-O edit gets its S-NO ripple
(``portability/nested``) and the O-NO facts of its old and new objects (``specificity/ono``).

Exposure (issue 25): the S-O edits and refusals take ``exposure.edit``, a band of quantiles of
per-fact corpus occurrences the edited facts are drawn from (:mod:`behemoth.scenarios.exposure`;
without a band, every draw is what it was before bands existed); ``nested-ono`` refuses it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from behemoth.errors import ConfigError
from behemoth.scenarios.compose import (
    RelationConfig,
    check_relation,
    finish_scenario,
    so_requests,
)
from behemoth.scenarios.exposure import edit_band, fact_band, refuse_bands, too_few
from behemoth.scenarios.render import (
    check_template,
    edge_prompts,
    statement_templates,
    subject_spans,
)
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import Scenario, ScenarioConfig, register_scenario
from behemoth.world.rng import derive_rng
from behemoth.world.vocab import OO
from behemoth.world.world import World


# -- helpers -----------------------------------------------------------------------------------
def _n_objects(world: World, r: int) -> int:
    """Objects relation r can take (relation 0 of a binarized correlated world: 2)."""
    return 2 if (world.config.binarize_first and r == 0) else world.config.objects


def _edit_templates(world: World) -> list[str]:
    return [*statement_templates(world), "question", "qa_new"]


def _checked_rng(
    world: World, cfg: SingleConfig | KDifferentConfig | KIdenticalConfig, name: str
) -> np.random.Generator:
    """Check an S-O edit's relation and format; the scenario's generator, derived by name."""
    check_relation(world, cfg.relation)
    check_template("template", cfg.template, _edit_templates(world))
    return derive_rng(cfg.seed, name)


def _edit_subjects(world: World, cfg: ScenarioConfig, r: int) -> np.ndarray:
    """[S] bool: subjects whose fact (s, r) lies in the scenario's exposure edit band (all
    subjects without one)."""
    return fact_band(world, edit_band(cfg.exposure), "exposure.edit")[:, r]


def _choose_new(world: World, r: int, old: int, forbid: set[int], rng: np.random.Generator) -> int:
    """A random new object for (r, old): not ``old``, not in ``forbid``; in nested worlds one
    whose nested object differs (so that the S-NO ripple is observable) when there is one."""
    pool = np.array(
        [o for o in range(_n_objects(world, r)) if o != old and o not in forbid], dtype=np.int64
    )
    if len(pool) == 0:
        raise ConfigError(
            "k",
            f"relation {r} has no object left for another distinct new value",
            "lower k or use a world with more objects",
        )
    g = world.graph
    if g.nested:
        moved = pool[g.nested_of[r, pool] != g.nested_of[r, old]]
        if len(moved):
            pool = moved
    return int(rng.choice(pool))


# -- single / K different / K identical ----------------------------------------------------------
class SingleConfig(RelationConfig):
    """One fact changed to a new object."""

    subject: int | None = Field(None, ge=0, description="Edited subject; null = random.")
    new_object: int | None = Field(None, ge=0, description="New object index; null = random.")


@register_scenario("single", SingleConfig)
def build_single(world: World, cfg: SingleConfig) -> Scenario:
    rng = _checked_rng(world, cfg, "single")
    S = world.graph.n_subjects
    banded = edit_band(cfg.exposure) is not None
    ok = _edit_subjects(world, cfg, cfg.relation)
    if cfg.subject is not None:
        s = cfg.subject
    elif banded:
        s = int(rng.choice(np.flatnonzero(ok)))
    else:
        s = int(rng.integers(S))
    if s >= S:
        raise ConfigError(
            "subject", f"subject {s} does not exist (the world has {S})", f"choose 0..{S - 1}"
        )
    if not ok[s]:
        raise ConfigError(
            "subject",
            f"the fact of subject {s} on relation {cfg.relation} lies outside exposure.edit",
            "leave subject unset (drawn from the band) or widen exposure.edit",
        )
    old = int(world.graph.objects[s, cfg.relation])
    new = cfg.new_object
    if new is None:
        new = _choose_new(world, cfg.relation, old, set(), rng)
    elif new == old or new >= _n_objects(world, cfg.relation):
        raise ConfigError(
            "new_object",
            f"{new} is the old object or out of range",
            f"choose another object in 0..{_n_objects(world, cfg.relation) - 1} than {old}",
        )
    reqs = so_requests(
        world, cfg.template, np.array([s]), np.array([cfg.relation]), np.array([new])
    )
    return finish_scenario(world, "single", "edit", cfg, reqs, rng)


class KDifferentConfig(RelationConfig):
    """K subjects with distinct old objects, each sent to a distinct new object."""

    k: int = Field(10, ge=1, description="Number of edits.")


@register_scenario("k-different", KDifferentConfig)
def build_k_different(world: World, cfg: KDifferentConfig) -> Scenario:
    rng = _checked_rng(world, cfg, "k-different")
    col = world.graph.objects[:, cfg.relation]
    n_obj = _n_objects(world, cfg.relation)
    ok = _edit_subjects(world, cfg, cfg.relation)
    if edit_band(cfg.exposure) is not None and cfg.k > len(np.unique(col[ok])):
        raise too_few("exposure.edit", len(np.unique(col[ok])), cfg.k, "distinct old objects")
    if 2 * cfg.k > n_obj or cfg.k > len(np.unique(col)):
        raise ConfigError(
            "k",
            f"{cfg.k} distinct old and {cfg.k} distinct new objects need "
            f"{2 * cfg.k} objects; relation {cfg.relation} has {n_obj} "
            f"({len(np.unique(col))} in use)",
            f"set k <= {min(n_obj // 2, len(np.unique(col)))}",
        )
    subj, used = [], set()
    for s in rng.permutation(len(col)):
        if ok[s] and int(col[s]) not in used:
            used.add(int(col[s]))
            subj.append(int(s))
            if len(subj) == cfg.k:
                break
    new: list[int] = []
    for s in subj:  # distinct new objects that no edited edge had before
        new.append(_choose_new(world, cfg.relation, int(col[s]), used | set(new), rng))
    reqs = so_requests(
        world, cfg.template, np.array(subj), np.full(cfg.k, cfg.relation), np.array(new)
    )
    return finish_scenario(world, "k-different", "edit", cfg, reqs, rng)


class KIdenticalConfig(RelationConfig):
    """K subjects sharing an old object all sent to one new object."""

    k: int = Field(10, ge=1, description="Number of subjects sharing the old value.")
    old_object: int | None = Field(None, ge=0, description="The shared old value; null = random.")
    new_object: int | None = Field(None, ge=0, description="The shared new value; null = random.")


@register_scenario("k-identical", KIdenticalConfig)
def build_k_identical(world: World, cfg: KIdenticalConfig) -> Scenario:
    rng = _checked_rng(world, cfg, "k-identical")
    col = world.graph.objects[:, cfg.relation]
    inband = _edit_subjects(world, cfg, cfg.relation)
    banded = edit_band(cfg.exposure) is not None
    counts = np.bincount(col[inband], minlength=_n_objects(world, cfg.relation))
    if cfg.old_object is None:
        ok = np.flatnonzero(counts >= cfg.k)
        if not len(ok):
            raise ConfigError(
                "exposure.edit" if banded else "k",
                f"no object of relation {cfg.relation} is held by {cfg.k} subjects "
                f"(the most is {counts.max()})",
                f"set k <= {counts.max()}" + (" or widen the band" if banded else ""),
            )
        v = int(rng.choice(ok))
    else:
        v = cfg.old_object
        if v >= len(counts) or counts[v] < cfg.k:
            raise ConfigError(
                "old_object",
                f"object {v} is held by {counts[v] if v < len(counts) else 0} "
                f"subjects{' in exposure.edit' if banded else ''}, fewer than k={cfg.k}",
                "choose another object or lower k",
            )
    subj = np.sort(rng.choice(np.flatnonzero((col == v) & inband), size=cfg.k, replace=False))
    w = (
        cfg.new_object
        if cfg.new_object is not None
        else _choose_new(world, cfg.relation, v, set(), rng)
    )
    if w == v or w >= len(counts):
        raise ConfigError(
            "new_object", f"{w} is the old object or out of range", "choose another object"
        )
    reqs = so_requests(world, cfg.template, subj, np.full(cfg.k, cfg.relation), np.full(cfg.k, w))
    return finish_scenario(world, "k-identical", "edit", cfg, reqs, rng)


# -- sequential stream -------------------------------------------------------------------------
class StreamConfig(ScenarioConfig):
    """N edits for sequential editing, in batches of B."""

    n: int = Field(100, ge=1, description="Number of edits in the stream.")
    batch_size: int = Field(1, ge=1, description="Edits applied together per step.")
    repeat_subjects: bool = Field(
        False, description="Allow a subject to be edited again (other relation)."
    )
    relations: list[int] | None = Field(None, description="Relations to edit; null = all.")


@register_scenario("stream", StreamConfig)
def build_stream(world: World, cfg: StreamConfig) -> Scenario:
    check_template("template", cfg.template, _edit_templates(world))
    g = world.graph
    S, R = g.objects.shape
    rels = list(range(R)) if cfg.relations is None else list(cfg.relations)
    for r in rels:
        check_relation(world, r, "relations")
    rng = derive_rng(cfg.seed, "stream")
    if edit_band(cfg.exposure) is not None:
        subj, rel = _banded_stream(world, cfg, rels, rng)
    elif cfg.repeat_subjects:
        cap = S * len(rels)
        if cfg.n > cap:
            raise ConfigError(
                "n", f"{cfg.n} edits exceed the {cap} editable facts", f"set n <= {cap}"
            )
        flat = rng.choice(cap, size=cfg.n, replace=False)
        subj, rel = flat // len(rels), np.array(rels)[flat % len(rels)]
    else:
        if cfg.n > S:
            raise ConfigError(
                "n",
                f"{cfg.n} edits of distinct subjects exceed the {S} subjects",
                f"set n <= {S} or repeat_subjects=true",
            )
        subj = rng.choice(S, size=cfg.n, replace=False)
        rel = np.array(rels)[rng.integers(0, len(rels), size=cfg.n)]
    new = np.array(
        [_choose_new(world, int(r), int(g.objects[s, r]), set(), rng) for s, r in zip(subj, rel)]
    )
    reqs = so_requests(world, cfg.template, subj, rel, new)
    B = cfg.batch_size
    batches = [list(range(a, min(a + B, cfg.n))) for a in range(0, cfg.n, B)]
    return finish_scenario(world, "stream", "edit", cfg, reqs, rng, batches=batches)


def _banded_stream(
    world: World, cfg: StreamConfig, rels: list[int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(subjects, relations) of a stream drawn from the facts in the exposure edit band: any
    such facts (``repeat_subjects``), else one fact per subject, its relation drawn among the
    subject's facts in the band."""
    ok = fact_band(world, edit_band(cfg.exposure), "exposure.edit")[:, rels]
    if cfg.repeat_subjects:
        cand = np.flatnonzero(ok.reshape(-1))
        if cfg.n > len(cand):
            raise too_few("exposure.edit", len(cand), cfg.n, "facts of the relations edited")
        flat = rng.choice(cand, size=cfg.n, replace=False)
        return flat // len(rels), np.array(rels)[flat % len(rels)]
    subjects = np.flatnonzero(ok.any(axis=1))
    if cfg.n > len(subjects):
        raise too_few("exposure.edit", len(subjects), cfg.n, "distinct subjects")
    subj = rng.choice(subjects, size=cfg.n, replace=False)
    rel = np.array([rels[int(rng.choice(np.flatnonzero(ok[s])))] for s in subj])
    return subj, rel


# -- refusal -----------------------------------------------------------------------------------
class RefusalConfig(RelationConfig):
    """K facts answered by the refusal filler instead of an object."""

    k: int = Field(10, ge=1, description="Number of facts whose answer becomes the refusal filler.")
    format: Literal["statement", "question"] = Field(
        "statement", description="statement (template 'refusal') or question ('qa_refusal')."
    )


@register_scenario("refusal", RefusalConfig)
def build_refusal(world: World, cfg: RefusalConfig) -> Scenario:
    check_relation(world, cfg.relation)
    if cfg.template != "sro":
        raise ConfigError(
            "template",
            "refusal formats are fixed (sro statement or question)",
            "leave template unset and choose format=statement or format=question",
        )
    rng = derive_rng(cfg.seed, "refusal")
    S = world.graph.n_subjects
    if cfg.k > S:
        raise ConfigError("k", f"{cfg.k} exceeds the {S} subjects", f"set k <= {S}")
    if edit_band(cfg.exposure) is not None:
        ok = np.flatnonzero(_edit_subjects(world, cfg, cfg.relation))
        if cfg.k > len(ok):
            raise too_few("exposure.edit", len(ok), cfg.k, f"facts of relation {cfg.relation}")
        subj = np.sort(rng.choice(ok, size=cfg.k, replace=False))
    else:
        subj = np.sort(rng.choice(S, size=cfg.k, replace=False))
    tmpl = "refusal" if cfg.format == "statement" else "qa_refusal"
    reqs = so_requests(
        world,
        tmpl,
        subj,
        np.full(cfg.k, cfg.relation),
        np.full(cfg.k, -1),
        targets=np.full(cfg.k, OO),
    )
    return finish_scenario(world, "refusal", "refusal", cfg, reqs, rng)


# -- nested worlds: O-NO edits -------------------------------------------------------------------
class NestedOnoConfig(RelationConfig):
    """Nested worlds: change f_r(o) of K objects; S-NO facts of their holders should follow."""

    bands: ClassVar[bool] = False  # its facts are not S-O facts chosen by exposure

    k: int = Field(1, ge=1, description="Number of objects whose nested object changes.")


@register_scenario("nested-ono", NestedOnoConfig)
def build_nested_ono(world: World, cfg: NestedOnoConfig) -> Scenario:
    g, V = world.graph, world.vocab
    refuse_bands(cfg.exposure, "nested-ono")
    if not g.nested:
        raise ConfigError(
            "--scenario",
            "nested-ono needs a world with nested objects",
            "generate one with nested_objects > 0 (preset nested)",
        )
    check_relation(world, cfg.relation)
    rng = derive_rng(cfg.seed, "nested-ono")
    R, O = g.nested_of.shape
    M = int(g.nested_of.max()) + 1
    if cfg.k > O or M < 2:
        raise ConfigError(
            "k",
            f"{cfg.k} objects requested, relation has {O} (and {M} nested values)",
            f"set k <= {O}",
        )
    objs = np.sort(rng.choice(O, size=cfg.k, replace=False))
    r = cfg.relation
    p = edge_prompts(world, "sro", "O-NO", np.full(cfg.k, -1), np.full(cfg.k, r), objs)
    spans = subject_spans(world, p)
    reqs = []
    for i, o in enumerate(objs):
        old = int(g.nested_of[r, o])
        new = int(rng.choice([m for m in range(M) if m != old]))
        reqs.append(
            EditRequest(
                prompt=tuple(int(t) for t in p.prompt(i)),
                target_new=int(V.nested_object(r, new)),
                target_old=int(V.nested_object(r, old)),
                subject_span=(int(spans[i, 0]), int(spans[i, 1])),
                subject=-1,
                relation=r,
                old_object=old,
                new_object=new,
                kind="O-NO",
                template=p.template,
            )
        )
    return finish_scenario(world, "nested-ono", "edit", cfg, reqs, rng)
