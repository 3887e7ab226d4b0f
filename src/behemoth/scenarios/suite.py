"""Test sets and the retain mix for a list of edit requests (the reference's edit-set tests).

Given the requests, every test follows from the world's graph:

- efficacy: the edited prompts themselves (target = the new answer);
- generalization: the edited facts in every other statement template, the question format
  (split into subjects trained with questions and held-out ones) and the fine-tuning-only QA
  format;
- specificity, four disjoint splits of the untouched S-O facts: the edited subjects' other
  relations (``same_subject``), other subjects holding an edit's old value on its relation
  (``same_value``), the rest of the edited relations (``same_relation``) and everything else
  (``other``); in nested worlds the O-NO facts of the old and new objects (``ono``);
- portability: nested worlds, the edited subject's S-NO fact (does the ripple follow the new
  object?); correlated worlds, relation 1 of subjects edited on relation 0 (kept or followed?);
  O-NO edits, the S-NO facts of every subject holding the edited object;
- forgetting (forget scenarios): forgotten facts in every format, held-out facts of the
  relation, and a membership set (forgotten facts vs the same prompts answered by objects the
  model never saw with them).

Specificity prompts use the world's trained statement template (what the model knows); the
retain mix and the editor facts use the edits' own format. Both training inputs are drawn
from the same pools first; the specificity splits use only what they left, so training and
test facts are disjoint at the (subject, relation) level (see :mod:`behemoth.scenarios.split`
for the editor-fact design and the check). The edited subjects' other facts never enter the
retain mix, except in forget scenarios (below). Other subjects holding an edit's *new* value
form their own split (``same_new_value``), as the reference tests for different edits.
An exposure test band (``exposure.test``, :mod:`behemoth.scenarios.exposure`) keeps the
specificity splits to the untouched facts in the band, after the training inputs are drawn.

Forget scenarios: the held-out subjects are a test of generalization, so none of their facts
(of any relation) enters a training mix; as the remaining untouched subjects are then none,
the retain mix rehearses the forgotten subjects' *other* relations (a share of them; the rest
is the ``same_subject`` test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from behemoth.scenarios.exposure import fact_band, tested_band
from behemoth.scenarios.render import REFUSAL_TWIN, edge_prompts, statement_templates
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import ScenarioConfig, requests_probes, slot_object
from behemoth.scenarios.testset import TestSet, concat_probes, make_testset
from behemoth.world.exclude import relation_sizes
from behemoth.world.rng import derive_rng
from behemoth.world.world import World

Add = Callable[[TestSet], None]


def _pick(rng: np.random.Generator, idx: np.ndarray, n: int | None) -> np.ndarray:
    """Up to n of ``idx``, chosen at random, returned sorted (all of them when n is None)."""
    if n is None or len(idx) <= n:
        return idx
    return np.sort(rng.choice(idx, size=n, replace=False))


@dataclass
class Splits:
    """What a scenario is built from: test sets, the retain mix and the editor facts."""

    tests: dict[str, TestSet]
    retain: TestSet
    editor_facts: TestSet


def build_tests(
    world: World,
    requests: list[EditRequest],
    cfg: ScenarioConfig,
    mode: str,
    rng: np.random.Generator,
    held_out: np.ndarray | None = None,
    retain: TestSet | None = None,
) -> tuple[dict[str, TestSet], TestSet]:
    """Every test set of the requests and the retain mix (:func:`build_splits` without the
    editor facts; kept for callers of the two-set form)."""
    sp = build_splits(world, requests, cfg, mode, rng, held_out, retain)
    return sp.tests, sp.retain


def build_splits(
    world: World,
    requests: list[EditRequest],
    cfg: ScenarioConfig,
    mode: str,
    rng: np.random.Generator,
    held_out: np.ndarray | None = None,
    retain: TestSet | None = None,
) -> Splits:
    """Every test set of the requests, the retain mix (drawn here unless ``retain`` given) and
    the editor facts.

    ``held_out`` (forget scenarios): subjects of the forgotten relation kept out of training,
    tested for whether forgetting generalizes to them.
    """
    tests: dict[str, TestSet] = {}

    def add(t: TestSet) -> None:
        if len(t):
            tests[t.name] = t

    so = [i for i, q in enumerate(requests) if q.kind == "S-O"]
    ono = [i for i, q in enumerate(requests) if q.kind == "O-NO"]
    _efficacy(world, requests, mode, add)
    if so:
        _generalization(world, requests, so, mode, add)
    retain_set, editor_set = _specificity_and_retain(
        world, requests, so, ono, cfg, mode, rng, held_out, retain, add
    )
    if so and mode == "edit":
        _portability_so(world, requests, so, add)
    if ono:
        _portability_ono(world, requests, ono, cfg, rng, add)
    if mode == "forget":
        _forgetting_extra(world, requests, so, cfg, rng, held_out, add)
    return Splits(tests, retain_set, editor_set)


def _efficacy(world: World, requests: list[EditRequest], mode: str, add: Add) -> None:
    group = "forgetting" if mode == "forget" else "efficacy"
    by_tmpl: dict[str, list[int]] = {}
    for i, q in enumerate(requests):
        by_tmpl.setdefault(q.template, []).append(i)
    for tmpl, rows in by_tmpl.items():
        reqs = [requests[i] for i in rows]
        p = requests_probes(reqs, world.vocab)
        split = "forgotten" if mode == "forget" else tmpl
        if mode == "forget" and len(by_tmpl) > 1:
            split = f"forgotten_{tmpl}"
        add(
            make_testset(
                group, split, p, other=np.array([q.target_old for q in reqs]), edit=np.array(rows)
            )
        )


def _formats(world: World, edit_template: str) -> list[str]:
    """Prompt formats other than the edit's own: statement templates, question, new QA."""
    own = REFUSAL_TWIN.get(edit_template, edit_template)
    return [f for f in [*statement_templates(world), "question", "qa_new"] if f != own]


def _generalization(
    world: World, requests: list[EditRequest], so: list[int], mode: str, add: Add
) -> None:
    g = world.graph
    group = "forgetting" if mode == "forget" else "generalization"
    prefix = "forgotten_" if mode == "forget" else ""
    by_tmpl: dict[str, list[int]] = {}
    for i in so:
        by_tmpl.setdefault(requests[i].template, []).append(i)
    for tmpl, rows_l in by_tmpl.items():
        rows = np.array(rows_l)
        s = np.array([requests[i].subject for i in rows])
        r = np.array([requests[i].relation for i in rows])
        o = g.objects[s, r]
        new = np.array([requests[i].target_new for i in rows])
        old = np.array([requests[i].target_old for i in rows])
        for f in _formats(world, tmpl):
            parts = [(f, np.ones(len(rows), bool))]
            if f == "question":
                q = g.question_subjects[s]
                parts = [("question", q), ("question_new", ~q)]
            for split, m in parts:
                if not m.any():
                    continue
                p = edge_prompts(world, f, "S-O", s[m], r[m], o[m])
                add(make_testset(group, prefix + split, p, new[m], old[m], rows[m]))


def _so_set(
    world: World,
    group: str,
    split: str,
    template: str,
    flat: np.ndarray,
    edit: np.ndarray | int = -1,
    other: np.ndarray | int = -1,
) -> TestSet:
    """Facts given as flat S-O edge ids (s * R + r), answered with their world objects."""
    R = world.graph.n_relations
    s, r = flat // R, flat % R
    p = edge_prompts(
        world, REFUSAL_TWIN.get(template, template), "S-O", s, r, world.graph.objects[s, r]
    )
    return make_testset(group, split, p, None, other, edit)


def _specificity_and_retain(
    world: World,
    requests: list[EditRequest],
    so: list[int],
    ono: list[int],
    cfg: ScenarioConfig,
    mode: str,
    rng: np.random.Generator,
    held_out: np.ndarray | None,
    retain: TestSet | None,
    add: Add,
) -> tuple[TestSet, TestSet]:
    """Specificity splits, the retain mix and the editor facts (returned: retain, editor)."""
    g, V = world.graph, world.vocab
    S, R = g.objects.shape
    # Specificity asks what the model knows: the world's trained statement template. The retain
    # mix and the editor facts are inputs next to the edits: their format.
    spec_tmpl = statement_templates(world)[0]
    retain_tmpl = requests[so[0]].template if so else spec_tmpl
    edited = np.zeros((S, R), bool)
    esub = np.zeros(S, bool)
    excluded = np.zeros((S, R), bool)
    s_arr = np.array([requests[i].subject for i in so], dtype=np.int64)
    r_arr = np.array([requests[i].relation for i in so], dtype=np.int64)
    edited[s_arr, r_arr] = True
    esub[s_arr] = True
    excluded |= edited
    if (
        world.config.correlated_pair and mode == "edit"
    ):  # relation 1 of r0-edited subjects: portability
        excluded[s_arr[r_arr == 0], 1] = True
    if held_out is not None and len(so):
        excluded[held_out, r_arr[0]] = True
    holders = np.zeros((S, R), bool)
    for i in ono:  # subjects holding an O-NO-edited object: their S-O facts must not move
        q = requests[i]
        holders[:, q.relation] |= g.objects[:, q.relation] == slot_object(q, V)
    excluded |= holders
    rel_mask = np.zeros(R, bool)
    rel_mask[r_arr] = True
    same_value = np.zeros((S, R), bool)
    new_value = np.zeros((S, R), bool)
    for i in so:
        q = requests[i]
        same_value[:, q.relation] |= g.objects[:, q.relation] == q.old_object
        if mode == "edit" and q.new_object >= 0:
            new_value[:, q.relation] |= g.objects[:, q.relation] == q.new_object
    new_value &= ~same_value
    untouched = ~esub[:, None] & ~excluded
    same_subject = esub[:, None] & ~excluded
    # Editor facts come from their own stream: a scenario rebuilt from its JSONL (same seed,
    # same requests and retain mix) gets the same ones.
    editor_rng = derive_rng(cfg.seed, "editor-facts")
    reserved = _reserve_same_subject(same_subject, cfg.editor_same_subject, editor_rng)
    pools = {
        "same_subject": same_subject & ~reserved,
        "same_value": untouched & same_value,
        "same_new_value": untouched & new_value,
        "same_relation": untouched & rel_mask[None, :] & ~same_value & ~new_value,
        "other": untouched & ~rel_mask[None, :],
    }
    # Training inputs never touch a held-out subject of a forget scenario (any relation).
    no_train = np.zeros(S, bool)
    if mode == "forget" and held_out is not None:
        no_train[held_out] = True
    train = {k: v & ~no_train[:, None] for k, v in pools.items()}
    train["same_relation"] = train["same_relation"] | train.pop("same_new_value")
    if mode == "forget":  # no untouched subject is left to rehearse: the forgotten ones' others
        train["other"] = train["other"] | train["same_subject"]
    K = max(len(requests), 1)
    if retain is None:
        retain_flat = _draw_retain(world, requests, so, train, cfg, K, rng)
        retain = _so_set(world, "retain", "mix", retain_tmpl, retain_flat)
    else:
        retain_flat = retain.probes.subject * R + retain.probes.relation
    in_train = np.zeros(S * R, bool)
    in_train[retain_flat] = True
    editor_flat = _draw_editor(
        train, in_train, np.flatnonzero(reserved.reshape(-1)), cfg, K, editor_rng
    )
    in_train[editor_flat] = True
    editor = _so_set(world, "editor", "facts", retain_tmpl, editor_flat)
    # Competitor for NS (ROME): a same-relation neighbour compares its true object with the new
    # object of an edit on that relation (the edit sharing its old value, for same_value); a
    # holder of an edit's new value compares its true object (that new value) with the edit's
    # old one (did the edit pull the new value's holders towards the old value?).
    by_rel: dict[int, list[int]] = {}
    by_val: dict[tuple[int, int], int] = {}
    by_new: dict[tuple[int, int], int] = {}
    for i in so:
        q = requests[i]
        by_rel.setdefault(q.relation, []).append(i)
        by_val.setdefault((q.relation, q.old_object), i)
        by_new.setdefault((q.relation, q.new_object), i)
    # An exposure test band keeps the untouched facts tested to the band (a subset of what the
    # splits hold without one: the training inputs above are drawn as without a band).
    band = fact_band(world, tested_band(cfg.exposure), "exposure.test").reshape(-1)
    for split, mask in pools.items():
        flat = np.flatnonzero(mask.reshape(-1) & ~in_train & band)
        flat = _pick(rng, flat, cfg.specificity_size)
        s, r = flat // R, flat % R
        edit = np.full(len(flat), -1, dtype=np.int64)
        if split == "same_subject":
            first: dict[int, int] = {}
            for i in so:
                first.setdefault(requests[i].subject, i)
            edit = np.array([first[int(x)] for x in s], dtype=np.int64)
        elif split in ("same_value", "same_new_value"):
            table = by_val if split == "same_value" else by_new
            edit = np.array(
                [table[(int(a), int(g.objects[b, a]))] for a, b in zip(r, s)], dtype=np.int64
            )
        elif split == "same_relation":
            edit = np.array(
                [by_rel[int(a)][j % len(by_rel[int(a)])] for j, a in enumerate(r)], dtype=np.int64
            )
        other = np.full(len(flat), -1, dtype=np.int64)
        if split in ("same_value", "same_relation") and mode != "forget":
            other = np.array([requests[e].target_new for e in edit], dtype=np.int64)
        elif split == "same_new_value":
            other = np.array([requests[e].target_old for e in edit], dtype=np.int64)
        add(_so_set(world, "specificity", split, spec_tmpl, flat, edit, other))
    if holders.any():
        flat = _pick(rng, np.flatnonzero(holders.reshape(-1) & band), cfg.specificity_size)
        add(_so_set(world, "specificity", "holders", spec_tmpl, flat))
    if g.nested and so and mode == "edit":  # O-NO facts of the old and new objects stay
        pairs = sorted(
            {(requests[i].relation, requests[i].old_object) for i in so}
            | {(requests[i].relation, requests[i].new_object) for i in so}
        )
        rr = np.array([p[0] for p in pairs])
        oo = np.array([p[1] for p in pairs])
        add(
            make_testset(
                "specificity",
                "ono",
                edge_prompts(world, "sro", "O-NO", np.full(len(rr), -1), rr, oo),
            )
        )
    if ono:
        _ono_specificity(world, requests, ono, cfg, rng, add)
    return retain, editor


def _reserve_same_subject(
    pool: np.ndarray, per_subject: int, rng: np.random.Generator
) -> np.ndarray:
    """[S, R] mask: up to ``per_subject`` of each edited subject's other facts, kept for editors.

    A subject keeps at least one fact for the ``same_subject`` test, so with one other relation
    nothing is reserved (editors then use subject-only prompts, which are no test prompt).
    """
    out = np.zeros_like(pool)
    if per_subject == 0:
        return out
    for s in np.flatnonzero(pool.any(axis=1)):
        cols = np.flatnonzero(pool[s])
        n = min(per_subject, len(cols) - 1)
        if n > 0:
            out[s, rng.choice(cols, size=n, replace=False)] = True
    return out


def _draw_editor(
    train: dict[str, np.ndarray],
    taken: np.ndarray,
    reserved: np.ndarray,
    cfg: ScenarioConfig,
    K: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Flat S-O edge ids of the editor facts: the reserved same-subject facts, and up to
    ``editor_other`` per edit of the untouched facts the retain mix left (at most a quarter of
    them, so the specificity splits keep the rest)."""
    free = (train["same_relation"] | train["other"]).reshape(-1) & ~taken
    free[reserved] = False
    flat = np.flatnonzero(free)
    pick = _pick(rng, flat, min(cfg.editor_other * K, len(flat) // 4))
    return np.sort(np.concatenate([reserved, pick]).astype(np.int64))


def _draw_retain(
    world: World,
    requests: list[EditRequest],
    so: list[int],
    pools: dict[str, np.ndarray],
    cfg: ScenarioConfig,
    K: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Flat S-O edge ids of the retain mix: same value, same relation, other relations.

    The same-value share is capped once per (relation, old value), as the reference generator
    does: k edits sharing one value take ``min(retain_same_value, retain_share * holders)``
    holders together, so the held-out same-value test keeps the rest (drawing per edit from
    what the previous edits left would drain it to one fact for k = 5).
    """
    g = world.graph
    R = g.n_relations
    share = cfg.retain_share
    chosen: list[np.ndarray] = []
    sv = pools["same_value"]
    for r, v in sorted({(requests[i].relation, requests[i].old_object) for i in so}):
        col = np.flatnonzero(sv[:, r] & (g.objects[:, r] == v))
        n = min(cfg.retain_same_value, int(share * len(col)))
        chosen.append(_pick(rng, col, n) * R + r)
    for name, per_edit in (
        ("same_relation", cfg.retain_same_relation),
        ("other", cfg.retain_other),
    ):
        flat = np.flatnonzero(pools[name].reshape(-1))
        chosen.append(_pick(rng, flat, min(per_edit * K, int(share * len(flat)))))
    out = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    return np.sort(out.astype(np.int64))


def _ono_specificity(
    world: World,
    requests: list[EditRequest],
    ono: list[int],
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    add: Add,
) -> None:
    g, V = world.graph, world.vocab
    R, O = g.nested_of.shape
    edited = np.zeros((R, O), bool)
    for i in ono:
        edited[requests[i].relation, slot_object(requests[i], V)] = True
    rels = np.asarray(edited.any(axis=1))
    for split, mask in (
        ("ono_same_relation", rels[:, None] & ~edited),
        ("ono_other", ~rels[:, None] & ~edited),
    ):
        flat = _pick(rng, np.flatnonzero(mask.reshape(-1)), cfg.specificity_size)
        rr, oo = flat // O, flat % O
        add(
            make_testset(
                "specificity",
                split,
                edge_prompts(world, "sro", "O-NO", np.full(len(rr), -1), rr, oo),
            )
        )


def _portability_so(world: World, requests: list[EditRequest], so: list[int], add: Add) -> None:
    g, V = world.graph, world.vocab
    rows = np.array(so)
    s = np.array([requests[i].subject for i in so])
    r = np.array([requests[i].relation for i in so])
    old = np.array([requests[i].old_object for i in so])
    new = np.array([requests[i].new_object for i in so])
    if g.nested:  # the S-NO ripple: f_r(new) instead of f_r(old)
        n_old, n_new = g.nested_of[r, old], g.nested_of[r, new]
        m = n_old != n_new
        if m.any():
            p = edge_prompts(world, "sro", "S-NO", s[m], r[m], old[m])
            add(
                make_testset(
                    "portability",
                    "nested",
                    p,
                    V.nested_object(r[m], n_new[m]),
                    V.nested_object(r[m], n_old[m]),
                    rows[m],
                )
            )
    if world.config.correlated_pair:  # relation 1 of subjects edited on relation 0
        o1 = g.objects[s, 1]
        m = (r == 0) & (o1 == old) & (new != o1) & (new < world.config.objects)
        if m.any():
            p = edge_prompts(
                world, requests[so[0]].template, "S-O", s[m], np.ones(m.sum(), np.int64), o1[m]
            )
            add(
                make_testset(
                    "portability", "correlated", p, V.object(1, new[m]), V.object(1, o1[m]), rows[m]
                )
            )


def _portability_ono(
    world: World,
    requests: list[EditRequest],
    ono: list[int],
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    add: Add,
) -> None:
    """An O-NO edit f_r(o): n -> n' implies S-NO (s, r) -> n' for every subject holding o."""
    g, V = world.graph, world.vocab
    ss, rs, os_, tg, ot, ed = [], [], [], [], [], []
    for i in ono:
        q = requests[i]
        o = slot_object(q, V)
        s = np.flatnonzero(g.objects[:, q.relation] == o)
        ss.append(s)
        rs.append(np.full(len(s), q.relation))
        os_.append(np.full(len(s), o))
        tg.append(np.full(len(s), q.target_new))
        ot.append(np.full(len(s), q.target_old))
        ed.append(np.full(len(s), i))
    cat = np.concatenate
    if len(cat(ss)):
        p = edge_prompts(world, "sro", "S-NO", cat(ss), cat(rs), cat(os_))
        add(make_testset("portability", "holders_sno", p, cat(tg), cat(ot), cat(ed)))


def _forgetting_extra(
    world: World,
    requests: list[EditRequest],
    so: list[int],
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    held_out: np.ndarray | None,
    add: Add,
) -> None:
    """Held-out facts of the forgotten relation, and the membership set."""
    g = world.graph
    if not so:
        return
    r = requests[so[0]].relation
    target = requests[so[0]].target_new
    tmpl = REFUSAL_TWIN.get(requests[so[0]].template, requests[so[0]].template)
    if held_out is not None and len(held_out):
        p = edge_prompts(
            world, tmpl, "S-O", held_out, np.full(len(held_out), r), g.objects[held_out, r]
        )
        old = p.answer.copy()
        add(make_testset("forgetting", "held_out", p, np.full(len(p), target), old))
    # Membership (Shokri et al. 2017 style, loss-based): members are the forgotten facts with their
    # true objects; non-members are the same prompts answered by an object the model never saw
    # with them: uniform over the relation's own objects (two for a binarized relation,
    # ``relation_sizes``) other than the true one and the edge's minority (dissenting) object,
    # which the corpus does state. A fact whose relation has no such object left has no pair.
    s = np.array([requests[i].subject for i in so])
    rr = np.array([requests[i].relation for i in so])  # forget sets may span relations
    true = g.objects[s, rr]
    n_obj = relation_sizes(world.config.binarize_first, world.config.objects, rr)
    fake = _unseen_objects(true, g.minority[s, rr], n_obj, cfg.seed)
    has = fake >= 0
    if not has.any():
        return
    s, rr, true, fake = s[has], rr[has], true[has], fake[has]
    mem = edge_prompts(world, tmpl, "S-O", s, rr, true)
    non = edge_prompts(world, tmpl, "S-O", s, rr, fake)
    both = concat_probes([mem, non])
    both.template = tmpl
    member = np.concatenate([np.ones(len(s), bool), np.zeros(len(s), bool)])
    kept = np.array(so)[has]
    edit = np.concatenate([kept, kept])
    add(make_testset("membership", "forgotten_vs_unseen", both, None, -1, edit, member))


def _unseen_objects(
    true: np.ndarray, minority: np.ndarray, n_obj: np.ndarray, seed: int
) -> np.ndarray:
    """Per item, an object uniform over 0..n_obj[i]-1 except its true and minority objects
    (-1 where none is left, e.g. a binarized relation whose other object is the minority)."""
    rng = derive_rng(seed, "membership")
    out = np.empty(len(true), dtype=np.int64)
    for i, (t, m, n) in enumerate(zip(true, minority, n_obj)):
        seen = sorted({int(t), int(m)} - {-1})
        if int(n) - len(seen) <= 0:
            out[i] = -1
            continue
        x = int(rng.integers(0, int(n) - len(seen)))
        for v in seen:  # shift past the excluded objects, in increasing order
            x += x >= v
        out[i] = x
    return out
