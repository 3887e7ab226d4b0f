"""The editor-internal split: what an editor may see besides its edit requests, and the check.

Locate-and-edit editors (ROME, Meng et al. 2022, Eq. 4's essence term; MEMIT; AlphaEdit)
optimize on prompts other than the edit: KL ("essence") prompts about the edited subject,
context prefixes, replay facts. If those prompts are test prompts, the editor is tuned on its
own test set (with k-different k=5, the "other relations of the edited subject" rule gave all
15 KL prompts = the 15 ``specificity/same_subject`` prompts). The scenario therefore owns two
training inputs, both disjoint from every test set by (subject, relation) fact and by prompt:

- ``scenario.retain``: facts a tuning editor rehearses (the reference's retain mix);
- ``scenario.editor_facts``: facts any editor may use internally. They are
  (a) ``editor_same_subject`` (default 1) of each edited subject's *other-relation* facts,
  taken out of the ``same_subject`` test (a subject always keeps one fact for that test), so
  ROME-style KL prompts about the edited subject remain possible; and (b) ``editor_other``
  untouched facts per edit (context prefixes, replay), at most a quarter of what the retain
  mix left. Both are rendered in the edits' own format. Reserving a share rather than using
  subject-only prompts keeps KL prompts real facts of the subject (the paper's "{subject} is
  a" prompts are also possible: a prompt cut after the subject is no test prompt).

:func:`check_editor_inputs` is the one check: any prompt set an editor builds is passed through
it and it raises :class:`EditorInputLeak` naming the test set it overlaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from behemoth.errors import BehemothError
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import Scenario
from behemoth.scenarios.testset import TestSet
from behemoth.world.probes import ProbeSet

Fact = tuple[int, int]


class EditorInputLeak(BehemothError):
    """An editor-internal input overlaps a test set of the scenario."""


def _probe_rows(p: ProbeSet) -> tuple[list[Fact], list[tuple[int, ...]]]:
    facts = [
        (int(s), int(r)) for s, r in zip(p.subject, p.relation) if int(s) >= 0
    ]  # O-NO prompts carry no subject: checked by prompt only
    prompts = [tuple(int(t) for t in p.prompt(i)) for i in range(len(p))]
    return facts, prompts


def editor_inputs(items: Any) -> tuple[list[Fact], list[tuple[int, ...]]]:
    """(facts, prompts) of what an editor uses: a TestSet, a ProbeSet, EditRequests, (subject,
    relation) pairs or token sequences (prompts), or a list mixing these."""
    if isinstance(items, TestSet):
        return _probe_rows(items.probes)
    if isinstance(items, ProbeSet):
        return _probe_rows(items)
    if isinstance(items, EditRequest):
        f = [(items.subject, items.relation)] if items.subject >= 0 else []
        return f, [tuple(items.prompt)]
    facts: list[Fact] = []
    prompts: list[tuple[int, ...]] = []
    for x in items if isinstance(items, Iterable) else [items]:
        if isinstance(x, (TestSet, ProbeSet, EditRequest)):
            f, p = editor_inputs(x)
            facts += f
            prompts += p
        elif isinstance(x, tuple) and len(x) == 2 and all(np.ndim(v) == 0 for v in x):
            facts.append((int(x[0]), int(x[1])))
        elif isinstance(x, (Sequence, np.ndarray)):
            prompts.append(tuple(int(t) for t in x))
        else:
            raise TypeError(f"cannot read an editor input from {type(x).__name__}")
    return facts, prompts


def check_editor_inputs(scenario: Scenario, prompts_or_facts: Any) -> None:
    """Raise :class:`EditorInputLeak` if any fact or prompt given overlaps a test set.

    Facts are compared by (subject, relation) with every test item that has a subject (so an
    S-NO portability fact of an edited (s, r) also counts); prompts by exact token sequence
    with every test prompt. Pass 2-tuples for facts, longer sequences for prompts. A 2-token
    prompt would read as a fact: pass it as a ProbeSet or a list of arrays. Test sets of the
    ``retain`` group measure the rehearsed mix itself (the reference's ``reg_data`` files) and
    are the one exception: rehearsing them is their definition.
    """
    facts, prompts = editor_inputs(prompts_or_facts)
    want_f, want_p = set(facts), set(prompts)
    for name, t in scenario.tests.items():
        if t.group == "retain":
            continue
        tf, tp = _probe_rows(t.probes)
        hit_f = want_f.intersection(tf)
        hit_p = want_p.intersection(tp)
        if hit_f or hit_p:
            what = (
                f"{len(hit_f)} fact(s), e.g. (subject, relation) = {min(hit_f)}"
                if hit_f
                else f"{len(hit_p)} prompt(s)"
            )
            raise EditorInputLeak(
                f"editor inputs overlap test set {name} of scenario {scenario.name}: {what}; "
                "build editor prompts from scenario.editor_facts or scenario.retain"
            )
