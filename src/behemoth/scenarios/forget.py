"""Forget-set scenarios: (a share of) one relation, K random facts, every fact of N subjects
(TOFU's "forget authors", Maini et al. 2024, Sec. 2.1), and a fact with its nested consequence.

Each forgets S-O facts (requests whose new answer is the relation's placeholder, or the refusal
filler for ``forget-relation target=refusal``). ``forget-relation`` holds out the relation's
other subjects; the others hold out a set of facts of the same kind that the model knows and
that no training mix may contain: ``forgetting/held_out`` asks whether forgetting spreads to
them. Held-out subjects' facts and forgotten subjects' other facts never enter the retain mix
(:func:`unlearning_retain`, which every unlearning run also applies to ``forget-relation``).

Exposure bands (:mod:`behemoth.scenarios.exposure`): ``exposure.edit`` restricts the forgotten
facts (``forget-relation``: the share is of the relation's subjects in the band;
``forget-subjects``: subjects ranked by their facts' total exposure), ``exposure.test`` the
held-out facts (or subjects) and the specificity splits; ``forget-nested`` refuses a band.
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
from behemoth.scenarios.exposure import (
    edit_band,
    fact_band,
    refuse_bands,
    subject_band,
    tested_band,
    too_few,
)
from behemoth.scenarios.render import check_template, edge_prompts, statement_templates
from behemoth.scenarios.scenario import Scenario, ScenarioConfig, register_scenario
from behemoth.scenarios.testset import TestSet, make_testset
from behemoth.world.rng import derive_rng
from behemoth.world.vocab import OO
from behemoth.world.world import World


def held_out_facts(scenario: Scenario, n_relations: int) -> np.ndarray:
    """Flat S-O ids (s * R + r) of the scenario's held-out facts (none if it has no such set)."""
    t = scenario.tests.get("forgetting/held_out")
    if t is None:
        return np.zeros(0, dtype=np.int64)
    return np.unique(t.probes.subject * n_relations + t.probes.relation)


def unlearning_retain(
    world: World, scenario: Scenario, size: int | None = None, seed: int = 0
) -> TestSet:
    """A retain mix for unlearning: ``size`` (default: as many as forgotten facts) random S-O
    facts that are neither forgotten nor held out and whose subject is not a held-out subject.

    (In ``forget-relation`` every subject is forgotten or held out, so these are the forgotten
    subjects' other relations.) Measurements must leave these facts out of retain accuracy.
    """
    g = world.graph
    S, R = g.objects.shape
    held = held_out_facts(scenario, R)
    ok = np.ones((S, R), dtype=bool)
    for q in scenario.requests:
        if q.subject >= 0:
            ok[q.subject, q.relation] = False
    ok[held // R, :] = False
    cand = np.flatnonzero(ok.reshape(-1))
    n = len(scenario.requests) if size is None else size
    pick = np.sort(derive_rng(seed, "unlearning-retain").permutation(cand)[: min(n, len(cand))])
    tmpl = statement_templates(world)[0]
    s, r = pick // R, pick % R
    return make_testset("retain", "mix", edge_prompts(world, tmpl, "S-O", s, r, g.objects[s, r]))


def _drop_facts(sc: Scenario, flat: np.ndarray, n_relations: int) -> None:
    """Remove S-O facts ``flat`` from every specificity test set of ``sc`` (in place)."""
    drop = set(np.asarray(flat).tolist())
    for key, t in list(sc.tests.items()):
        if t.group == "specificity" and len(t) and t.probes.subject.min() >= 0:
            f = t.probes.subject * n_relations + t.probes.relation
            sc.tests[key] = t.subset(np.flatnonzero([int(x) not in drop for x in f]))


def _forget(
    world: World,
    name: str,
    cfg: ScenarioConfig,
    subj: np.ndarray,
    rel: np.ndarray,
    held_s: np.ndarray,
    held_r: np.ndarray,
    rng: np.random.Generator,
) -> Scenario:
    """A forget scenario of S-O facts (subj, rel), with held-out facts (held_s, held_r)."""
    check_template("template", cfg.template, statement_templates(world))
    V, g = world.vocab, world.graph
    tok = np.asarray(V.placeholder(rel), dtype=np.int64)
    reqs = so_requests(world, cfg.template, subj, rel, np.full(len(subj), -1), targets=tok)
    sc = finish_scenario(world, name, "forget", cfg, reqs, rng)
    R = g.n_relations
    if len(held_s):
        p = edge_prompts(world, cfg.template, "S-O", held_s, held_r, g.objects[held_s, held_r])
        old = p.answer.copy()
        sc.tests["forgetting/held_out"] = make_testset(
            "forgetting", "held_out", p, np.asarray(V.placeholder(held_r)), old
        )
        _drop_facts(sc, held_s * R + held_r, R)  # tests of forgetting, not of specificity
    sc.retain = unlearning_retain(world, sc, seed=cfg.seed)
    rp = sc.retain.probes
    _drop_facts(sc, rp.subject * R + rp.relation, R)  # trained on: no longer a test
    # editor-internal facts: never a held-out subject's, never a rehearsed fact
    ef = sc.editor_facts.probes
    bad = np.isin(ef.subject, held_s) | np.isin(
        ef.subject * R + ef.relation, rp.subject * R + rp.relation
    )
    sc.editor_facts = sc.editor_facts.subset(np.flatnonzero(~bad))
    return sc


# -- one relation, K facts, N subjects, nested consequences ------------------------------------
class ForgetConfig(RelationConfig):
    """Forget (a share of) a relation; held-out subjects test generalization."""

    forgets: ClassVar[bool] = True

    share: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="Share of its subjects forgotten; the rest are held out for tests.",
    )
    target: Literal["placeholder", "refusal"] = Field(
        "placeholder",
        description="New answer: the relation's placeholder object or the refusal filler.",
    )


@register_scenario("forget-relation", ForgetConfig)
def build_forget(world: World, cfg: ForgetConfig) -> Scenario:
    check_relation(world, cfg.relation)
    check_template("template", cfg.template, statement_templates(world))
    rng = derive_rng(cfg.seed, "forget-relation")
    S = world.graph.n_subjects
    perm = rng.permutation(S)
    if cfg.exposure is None:
        n = max(1, int(round(cfg.share * S)))
        forget, held = np.sort(perm[:n]), np.sort(perm[n:])
    else:  # a share of the subjects in the edit band; the held-out rest, in the test band
        r = cfg.relation
        ok = fact_band(world, edit_band(cfg.exposure), "exposure.edit")[perm, r]
        n = max(1, int(round(cfg.share * int(ok.sum()))))
        if not ok.any():
            raise too_few("exposure.edit", 0, 1, f"facts of relation {r}")
        forget = np.sort(perm[ok][:n])
        rest = perm[~np.isin(perm, forget)]
        tested = fact_band(world, tested_band(cfg.exposure), "exposure.test")[rest, r]
        held = np.sort(rest[tested])
    tok = int(world.vocab.placeholder(cfg.relation)) if cfg.target == "placeholder" else OO
    tmpl = cfg.template if cfg.target == "placeholder" else "refusal"
    if cfg.target == "refusal" and cfg.template != "sro":
        raise ConfigError(
            "template",
            "the refusal target exists in the sro statement format only",
            "set template=sro or target=placeholder",
        )
    reqs = so_requests(
        world, tmpl, forget, np.full(n, cfg.relation), np.full(n, -1), targets=np.full(n, tok)
    )
    return finish_scenario(world, "forget-relation", "forget", cfg, reqs, rng, held_out=held)


class ForgetFactsConfig(ScenarioConfig):
    """Forget K random facts; K' facts of other subjects held out."""

    forgets: ClassVar[bool] = True

    k: int = Field(50, ge=1, description="Number of random facts forgotten.")
    held_out: int = Field(50, ge=0, description="Random facts of other subjects held out.")


@register_scenario("forget-facts", ForgetFactsConfig)
def build_forget_facts(world: World, cfg: ForgetFactsConfig) -> Scenario:
    g = world.graph
    S, R = g.objects.shape
    if cfg.k + cfg.held_out > S:
        raise ConfigError(
            "k",
            f"{cfg.k} forgotten + {cfg.held_out} held-out facts need as many distinct subjects; "
            f"the world has {S}",
            f"set k + held_out <= {S}",
        )
    rng = derive_rng(cfg.seed, "forget-facts")
    if cfg.exposure is None:
        subj = rng.permutation(S)[: cfg.k + cfg.held_out]
        rel = rng.integers(0, R, size=len(subj))
    else:
        subj, rel = _banded_facts(world, cfg, rng)
    f, h = slice(0, cfg.k), slice(cfg.k, None)
    order = np.argsort(subj[f], kind="stable")
    return _forget(world, "forget-facts", cfg, subj[f][order], rel[f][order], subj[h], rel[h], rng)


def _banded_facts(
    world: World, cfg: ForgetFactsConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(subjects, relations) of ``k`` forgotten facts in the exposure edit band, then
    ``held_out`` facts of other subjects in the test band: subjects in a random order, each
    taking one of its facts in the band (drawn at random)."""
    perm = rng.permutation(world.graph.n_subjects)
    subj: list[int] = []
    rel: list[int] = []
    for band, field, want in (
        (fact_band(world, edit_band(cfg.exposure), "exposure.edit"), "exposure.edit", cfg.k),
        (
            fact_band(world, tested_band(cfg.exposure), "exposure.test"),
            "exposure.test",
            cfg.held_out,
        ),
    ):
        got = 0
        for s in perm:
            if got == want:
                break
            cols = np.flatnonzero(band[s])
            if int(s) in subj or not len(cols):
                continue
            subj.append(int(s))
            rel.append(int(rng.choice(cols)))
            got += 1
        if got < want:
            raise too_few(field, got, want, "facts of distinct subjects")
    return np.array(subj, dtype=np.int64), np.array(rel, dtype=np.int64)


class ForgetSubjectsConfig(ScenarioConfig):
    """Forget every fact of N subjects (TOFU's forget authors); N' subjects held out."""

    forgets: ClassVar[bool] = True

    n: int = Field(10, ge=1, description="Subjects whose every fact is forgotten.")
    held_out: int = Field(10, ge=0, description="Other subjects whose facts are held out.")


@register_scenario("forget-subjects", ForgetSubjectsConfig)
def build_forget_subjects(world: World, cfg: ForgetSubjectsConfig) -> Scenario:
    g = world.graph
    S, R = g.objects.shape
    if cfg.n + cfg.held_out >= S:
        raise ConfigError(
            "n",
            f"{cfg.n} forgotten + {cfg.held_out} held-out subjects leave none of the {S} to retain",
            f"set n + held_out < {S}",
        )
    rng = derive_rng(cfg.seed, "forget-subjects")
    perm = rng.permutation(S)
    if cfg.exposure is None:
        fs, hs = np.sort(perm[: cfg.n]), np.sort(perm[cfg.n : cfg.n + cfg.held_out])
    else:  # subjects ranked by their facts' total exposure
        ef = perm[subject_band(world, edit_band(cfg.exposure), "exposure.edit")[perm]]
        if len(ef) < cfg.n:
            raise too_few("exposure.edit", len(ef), cfg.n, "subjects")
        fs = np.sort(ef[: cfg.n])
        rest = perm[~np.isin(perm, fs)]
        th = rest[subject_band(world, tested_band(cfg.exposure), "exposure.test")[rest]]
        if len(th) < cfg.held_out:
            raise too_few("exposure.test", len(th), cfg.held_out, "other subjects")
        hs = np.sort(th[: cfg.held_out])
    return _forget(
        world,
        "forget-subjects",
        cfg,
        np.repeat(fs, R),
        np.tile(np.arange(R), len(fs)),
        np.repeat(hs, R),
        np.tile(np.arange(R), len(hs)),
        rng,
    )


class ForgetNestedConfig(RelationConfig):
    """Nested worlds: forget K facts (s, r) and their nested consequences (s, r', f_r(o))."""

    bands: ClassVar[bool] = False  # its facts are not S-O facts chosen by exposure

    forgets: ClassVar[bool] = True

    k: int = Field(20, ge=1, description="Facts forgotten together with their S-NO consequence.")
    held_out: int = Field(20, ge=0, description="Facts of the relation held out.")


@register_scenario("forget-nested", ForgetNestedConfig)
def build_forget_nested(world: World, cfg: ForgetNestedConfig) -> Scenario:
    g = world.graph
    refuse_bands(cfg.exposure, "forget-nested")
    if not g.nested:
        raise ConfigError(
            "--scenario",
            "forget-nested needs a world with nested objects",
            "generate one with nested_objects > 0 (preset nested)",
        )
    S, R = g.objects.shape
    if not 0 <= cfg.relation < R:
        raise ConfigError(
            "relation", f"relation {cfg.relation} does not exist", f"choose 0..{R - 1}"
        )
    if cfg.k + cfg.held_out > S:
        raise ConfigError("k", f"k + held_out exceeds the {S} subjects", f"set k + held_out <= {S}")
    rng = derive_rng(cfg.seed, "forget-nested")
    perm = rng.permutation(S)
    fs, hs = np.sort(perm[: cfg.k]), np.sort(perm[cfg.k : cfg.k + cfg.held_out])
    r = np.full(len(fs), cfg.relation)
    sc = _forget(world, "forget-nested", cfg, fs, r, hs, np.full(len(hs), cfg.relation), rng)
    # the consequences to forget: the S-NO facts (s, r) of the forgotten subjects
    p = edge_prompts(world, "sro", "S-NO", fs, r, g.objects[fs, cfg.relation])
    old = p.answer.copy()
    sc.tests["forgetting/nested"] = make_testset(
        "forgetting",
        "nested",
        p,
        np.asarray(world.vocab.placeholder(r)),
        old,
        np.arange(len(fs)),
    )
    return sc


def forgotten_sno(scenario: Scenario, n_relations: int) -> np.ndarray:
    """Flat ids (s * R + r) of the S-NO consequences a scenario forgets (forget-nested)."""
    t = scenario.tests.get("forgetting/nested")
    if t is None:
        return np.zeros(0, dtype=np.int64)
    return np.unique(t.probes.subject * n_relations + t.probes.relation)
