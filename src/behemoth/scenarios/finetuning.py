"""Fine-tuning data in the reference's layout (``create_finetuning_data.py`` of
IST-DASLab/behemoth, arXiv 2601.23153), drawn from a behemoth world.

The reference picks edits on one relation and writes, per *part*, instruction rows and
``prompt<TAB>answer`` validation lines; ``train.jsonl`` (and identical ``val.jsonl`` /
``test.jsonl``) concatenates every part's rows. Its parts and proportions, reproduced here:

- remapping (``-n N``): N edges of the relation with pairwise different objects, each given a
  new object none of them had (``--all-same-remapping``: N edges sharing one object, all moved
  to one new object). Train: ``edited`` (each edit ``repeats`` times, default 250),
  ``with_same_value`` (up to 150 true facts per edit whose object is the edit's new object;
  all-same: up to 150, repeated N times), ``with_same_rel`` (up to 500 N true facts of the
  relation of untouched subjects), ``reg_data`` (N * repeats true facts of other relations of
  subjects in none of the above). Test: the edits once, the next slices of the same pools,
  ``same_edges_diff_rel`` (the edited subjects' other facts) and, with
  ``--get-correlated-tuples``, the edited subjects' relation-1 facts before and after (the
  reference's filter keeps every edge, so the edits are drawn as without it).
- forgetting (``--single-ft-value``): every edge of the relation (or a ``subset_frac`` of
  them) set to the relation's first object, once each (``censored``); ``reg_data`` as many
  true facts of other relations from half the untouched subjects; tests: the other half's
  other facts and its facts of the relation (``implicitly_remapped_edges``).
- refusal (``-f refusal``): the same parts, every row answered by the two-token ``OO OO``.
- nested worlds: the edited subjects' S-NO facts and the old and new objects' O-NO facts as
  test files (statement format, the object's word in the subject slot). The reference's
  ``--remap-subject/object-nested-object-edges`` stop with an ``UnboundLocalError`` in its own
  code (it looks up ``subjects_nested_relationships``, a key its metadata never has), so there
  is no output of theirs to reproduce; they are not offered here.
- ``--add-qa-data-to-finetuning``: the question format's copy of the train rows. The reference
  names that copy ``{k}_qa_*`` literally (a missing ``f`` prefix), so each part's copy replaces
  the previous one and only the last part's (``reg_data``) reaches ``train.jsonl``; so here.

Random choices are drawn from the seed (``behemoth.world.rng``), not the reference's global
RNG: the rows are the reference's as multisets of *kinds* (which part, how many copies, which
template), not the same facts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from behemoth.config import StrictConfig
from behemoth.errors import ConfigError
from behemoth.io import atomic_dir, write_json
from behemoth.world.rng import derive_rng
from behemoth.world.world import World

Edge = tuple[int, int, int]  # (subject, relation, object)
MARKER = "export_finetuning.json"


class FinetuningOptions(StrictConfig):
    """The options of the reference's ``create_finetuning_data.py`` (its flag in brackets)."""

    kind: Literal["remapping", "refusal"] = Field(
        "remapping", description="[-f] new objects, or the two-token refusal answer"
    )
    overrides: int = Field(1, ge=0, description="[-n] edits drawn")
    repeats: int = Field(250, ge=1, description="[--num-repeats-per-override]")
    relation: int = Field(0, ge=0, description="[--relationship-ordinal]")
    single_value: bool = Field(
        False, description="[--single-ft-value] forget: the relation's first object for all"
    )
    subset_frac: float = Field(
        1.0, gt=0, le=1, description="[--single-ft-data-subset-frac] with single_value"
    )
    all_same: bool = Field(False, description="[--all-same-remapping] one old, one new object")
    correlated: bool = Field(
        False, description="[--get-correlated-tuples] add the relation-1 tests"
    )
    add_qa: bool = Field(False, description="[--add-qa-data-to-finetuning] question copies")
    seed: int = Field(0, description="root seed of the random choices")


@dataclass
class Parts:
    """Edges per part, train and test; ``answer`` overrides the object (edits)."""

    train: dict[str, list[Edge]]
    test: dict[str, list[Edge]]
    edits: list[Edge]  # (s, r, new object)
    #: nested worlds: ("sno", s, r, n) / ("ono", o, r, n) test facts, in the statement format
    nested: dict[str, list[tuple[str, int, int, int]]] = field(default_factory=dict)


def _check(world: World, opt: FinetuningOptions) -> None:
    g = world.graph
    S, R = g.objects.shape
    O = int(world.config.objects)
    if world.config.vocab != "reference":
        raise ConfigError(
            "world", "its words are not the reference's", "generate it with vocab: reference"
        )
    if opt.relation >= R:
        raise ConfigError("relation", f"{opt.relation} >= {R} relations", f"use 0..{R - 1}")
    if O >= 1000:
        raise ConfigError("objects", f"{O} objects take two tokens", "use fewer than 1000")
    if opt.correlated and R < 2:
        raise ConfigError("correlated", "needs a second relation", "use a world with >= 2")
    if not opt.single_value and opt.overrides * opt.repeats > S:
        raise ConfigError(
            "repeats",
            f"{opt.overrides} x {opt.repeats} override rows exceed {S} subjects (the "
            "reference's balance rule)",
            f"lower -n/--overrides or --repeats (e.g. --repeats {max(1, S // opt.overrides)})",
        )
    if world.graph.nested and opt.relation > 0 and not opt.single_value:
        raise ConfigError(
            "relation", "nested tests exist for relation 0 only (as in the reference)", "use 0"
        )
    if world.config.binarize_first:
        raise ConfigError("world", "binarized first relation", "not supported by this export")


def _shuffled(rng: np.random.Generator, xs: list[Edge]) -> list[Edge]:
    return [xs[i] for i in rng.permutation(len(xs))]


def choose_parts(world: World, opt: FinetuningOptions) -> Parts:
    """The reference's selection of edits and of every train / test part."""
    _check(world, opt)
    rng = derive_rng(opt.seed, "export-finetuning")
    objects = world.graph.objects
    S, R = objects.shape
    O = int(world.config.objects)
    r0 = opt.relation
    edges: list[Edge] = [(s, r, int(objects[s, r])) for s in range(S) for r in range(R)]
    rel = [e for e in edges if e[1] == r0]
    train: dict[str, list[Edge]] = {}
    test: dict[str, list[Edge]] = {}

    if opt.single_value:
        relevant = rel
        if opt.subset_frac < 1:
            relevant = _shuffled(rng, rel)[: math.ceil(len(rel) * opt.subset_frac)]
        censored = [(s, r, 0) for s, r, _ in relevant]
        touched = {e[0] for e in relevant}
        clean = [s for s in range(S) if s not in touched]
        clean = [clean[i] for i in rng.permutation(len(clean))]
        half_train, half_test = set(clean[: len(clean) // 2]), set(clean[len(clean) // 2 :])
        reg_train = _shuffled(rng, [e for e in edges if e[0] in half_train and e[1] != r0])
        reg_test = _shuffled(rng, [e for e in edges if e[0] in half_test and e[1] != r0])
        train = {"censored": censored, "reg_data": reg_train[: len(censored)]}
        test = {
            "reg_data": reg_test[:10000],
            "implicitly_remapped_edges": [e for e in rel if e[0] in half_test][:10000],
        }
        return Parts(train, test, censored)

    n = opt.overrides
    if opt.all_same:
        old = int(rng.integers(O))
        pool = [e for e in rel if e[2] == old]
        if len(pool) < n:
            raise ConfigError("overrides", f"only {len(pool)} edges share an object", "lower it")
        pick = rng.choice(len(pool), n, replace=False)
        convert = [pool[i] for i in pick]
        subjects = {e[0] for e in convert}
        same_obj = _shuffled(rng, [e for e in pool if e[0] not in subjects])
        new = [int(rng.choice([o for o in range(O) if o != old]))] * n
        lim = min(len(same_obj) // 2, 150)
        train["with_same_value"] = same_obj[:lim] * n
        test["with_same_value"] = same_obj[lim : 2 * lim]
    else:
        seen: set[int] = set()
        distinct = []
        for e in rel:  # the reference keeps the first edge of each object
            if e[2] not in seen:
                seen.add(e[2])
                distinct.append(e)
        if len(distinct) < n:
            raise ConfigError("overrides", f"only {len(distinct)} distinct objects", "lower it")
        convert = [distinct[i] for i in rng.choice(len(distinct), n, replace=False)]
        subjects = {e[0] for e in convert}
        used = {e[2] for e in convert}
        free = [o for o in range(O) if o not in used]
        if len(free) < n:
            raise ConfigError("overrides", f"only {len(free)} unused objects", "lower it")
        new = [int(o) for o in rng.choice(free, n, replace=False)]
        train["with_same_value"], test["with_same_value"] = [], []
        for o in new:
            same = _shuffled(rng, [e for e in rel if e[2] == o])
            lim = min(len(same) // 2, 150)
            train["with_same_value"] += same[:lim]
            test["with_same_value"] += same[lim : 2 * lim]
    edits = [(s, r, o) for (s, r, _), o in zip(convert, new)]
    same_rel = _shuffled(rng, [e for e in rel if e[0] not in subjects])
    lim = min(len(same_rel) // 2, 500 * n)
    train["with_same_rel"] = same_rel[:lim]
    test["with_same_rel"] = same_rel[lim : 2 * lim]
    used_subjects = subjects | {e[0] for part in train.values() for e in part}
    others = _shuffled(rng, [e for e in edges if e[0] not in used_subjects])
    half = len(others) // 2
    train["reg_data"] = [e for e in others[:half] if e[1] != r0][: n * opt.repeats]
    test["reg_data"] = others[half:]
    train = {"edited": [e for e in edits for _ in range(opt.repeats)], **train}
    test = {"edited": list(edits), **test}
    test["same_edges_diff_rel"] = [e for e in edges if e[0] in subjects and e[1] != r0]
    if opt.correlated:
        test["same_subject_second_rel"] = [e for s, _, _ in edits for e in [edges[s * R + 1]]]
        test["same_subject_second_rel_converted"] = [(s, 1, o) for s, _, o in edits]
    return Parts(train, test, edits, _nested_tests(world, convert, edits))


def _nested_tests(
    world: World, before: list[Edge], after: list[Edge]
) -> dict[str, list[tuple[str, int, int, int]]]:
    """The reference's nested test facts around S-O edits (its
    ``get_nested_obj_edges_matching_sample``): each edited subject's S-NO fact, the old
    object's O-NO fact, and the new object's O-NO fact when some subject has that object."""
    g = world.graph
    if not g.nested:
        return {}
    present = {(int(r), int(o)) for r in range(g.n_relations) for o in np.unique(g.objects[:, r])}
    nested = g.nested_objects()
    out = {
        "same_subj_nested_obj_edges": [("sno", s, r, int(nested[s, r])) for s, r, _ in before],
        "same_obj_nested_obj_edges": [("ono", o, r, int(g.nested_of[r, o])) for _, r, o in before],
        "remapped_obj_nested_obj_edges": [
            ("ono", o, r, int(g.nested_of[r, o])) for _, r, o in after if (r, o) in present
        ],
    }
    return {k: v for k, v in out.items() if v}


class _Render:
    """The reference's phrase creators, as words of the world's reference vocabulary."""

    def __init__(self, world: World) -> None:
        self.v = world.vocab
        self.w = world.vocab.words

    def _subject(self, s: int) -> str:
        return " ".join(self.w[int(t)] for t in self.v.subject(np.array([s]))[0])

    def _grammar(self, *names: str) -> list[str]:
        return [self.w[self.v.grammar(n)] for n in names]

    def statement(self, e: Edge, refusal: bool) -> tuple[str, str]:
        """SimpleInvertedPhraseCreator / SimpleFinetuningRefusalPhraseCreator: val line."""
        s, r, o = e
        return self._statement(
            self._subject(s), int(self.v.relation(r)), int(self.v.object(r, o)), refusal
        )

    def nested(self, e: tuple[str, int, int, int], refusal: bool) -> tuple[str, str]:
        """The statement of an S-NO or O-NO fact (the object's word in the subject slot)."""
        kind, a, r, n = e
        if kind == "sno":
            head, rel = self._subject(a), int(self.v.nested_relation_sno(r))
        else:
            head, rel = self.w[int(self.v.object(r, a))], int(self.v.nested_relation_ono(r))
        return self._statement(head, rel, int(self.v.nested_object(r, n)), refusal)

    def _statement(self, head: str, rel: int, answer: int, refusal: bool) -> tuple[str, str]:
        w0, w1, w2 = self._grammar("W0", "W1", "W2")
        prompt = f" SS {head} {w0} {w1} RR {self.w[rel]} {w2} OO"
        return prompt, " OO OO" if refusal else f" {self.w[answer]}"

    def question(self, e: Edge) -> tuple[str, str]:
        """SimpleQuestionPhraseCreator: val line (the answer opens with ``OO``)."""
        s, r, o = e
        q1, q2, q3, q4 = self._grammar("WQ1", "WQ2", "WQ3", "WQ4")
        rel = self.w[int(self.v.relation(r))]
        prompt = f" QQ {q1} RR {rel} {q2} SS {self._subject(s)} {q3} {q4} AA"
        return prompt, f" OO {self.w[int(self.v.object(r, o))]}"


def _row(prompt: str, answer: str) -> str:
    return json.dumps({"instruction": prompt, "input": "", "output": answer})


def export_finetuning(
    world: World, opt: FinetuningOptions, out: str | Path, *, force: bool = False
) -> dict[str, Any]:
    """Write the fine-tuning folder; returns a summary (rows per part, edits)."""
    parts = choose_parts(world, opt)
    render = _Render(world)
    refusal = opt.kind == "refusal"
    kind = "refusal" if refusal else "sro"
    summary: dict[str, Any] = {"options": opt.to_dict(), "world": world.fingerprint}
    with atomic_dir(out, force=force, marker=MARKER, what="fine-tuning data") as tmp:
        data, vals = tmp / "finetuning_data", tmp / "ft_validations"
        for d in (data, vals, tmp / "ft_questions", tmp / "metadata"):
            d.mkdir()
        files: dict[str, list[str]] = {}
        train = {k: [render.statement(e, refusal) for e in v] for k, v in parts.train.items()}
        parts_out = {f"{k}_": (kind, lines) for k, lines in train.items()}
        if opt.add_qa:  # the reference's literal "{k}_qa_" prefix: the last part's copy wins
            last = list(parts.train)[-1]
            qa = [render.question(e) for e in parts.train[last]]
            parts_out["{k}_qa_"] = ("default", qa)
        for prefix, (fmt, lines) in parts_out.items():
            full = [f"{p}{a}.<|endoftext|>" for p, a in lines]  # its create_phrase
            (data / f"{prefix}data.txt").write_text("\n".join(full) + "\n")
            if not lines:  # an empty part: its data.txt only, as the reference writes it
                continue
            files[f"{prefix}{fmt}.jsonl"] = [_row(p, a) for p, a in lines]
            (vals / f"{prefix}{fmt}.txt").write_text("".join(f"{p}\t{a}\n" for p, a in lines))
        for name, rows in files.items():
            (data / name).write_text("\n".join(rows) + "\n")
        everything = "".join("\n".join(files[k]) + "\n" for k in sorted(files))
        for split in ("train", "val", "test"):
            (data / f"{split}.jsonl").write_text(everything)
        for part, edges in parts.test.items():
            if not edges:
                continue
            lines = [render.statement(e, refusal) for e in edges]
            (vals / f"{part}_{kind}.txt").write_text("".join(f"{p}\t{a}\n" for p, a in lines))
        for part, facts in parts.nested.items():
            lines = [render.nested(e, refusal) for e in facts]
            (vals / f"{part}_{kind}.txt").write_text("".join(f"{p}\t{a}\n" for p, a in lines))
        summary["train_rows"] = {k: len(v) for k, v in parts.train.items()}
        summary["test_rows"] = {k: len(v) for k, v in parts.test.items()}
        summary["test_rows"].update({k: len(v) for k, v in parts.nested.items()})
        summary["edits"] = [list(e) for e in parts.edits]
        write_json(tmp / MARKER, summary)
    return summary
