"""Prompts for chosen edges, rendered exactly as the world's probes are.

Edit requests and test sets reuse the probe renderer (:func:`behemoth.world.probes._set`) with
the same set names, so the prompt of an edited fact is token-for-token the world's probe of
that fact (templates with random elements draw them from the set name and the edge id). A
refusal template has the same prompt as its answering twin (``refusal`` = ``sro``,
``qa_refusal`` = ``question``); only the answer becomes the refusal filler ``OO``.
"""

from __future__ import annotations

import numpy as np

from behemoth.errors import ConfigError
from behemoth.world.corpus import KIND_ONO, KIND_SNO, KIND_SO
from behemoth.world.probes import ProbeSet, _set, probe_templates
from behemoth.world.templates import TEMPLATES
from behemoth.world.world import World

KIND_IDS = {"S-O": KIND_SO, "S-NO": KIND_SNO, "O-NO": KIND_ONO}
#: Refusal formats and the answering template whose prompt they share.
REFUSAL_TWIN = {"refusal": "sro", "qa_refusal": "question"}


def statement_templates(world: World) -> list[str]:
    """S-O statement probe templates of this world (the trained one first)."""
    return [t for t, _ in probe_templates(world.config)]


def set_name(world: World, template: str, kind: str) -> str:
    """The world probe-set name whose random draws a prompt of this template/kind uses.

    (``question`` and ``question_new`` render alike: the question template draws nothing.)
    """
    if kind == "S-NO":
        return "nested_sno"
    if kind == "O-NO":
        return "nested_ono"
    return REFUSAL_TWIN.get(template, template)


def check_template(field: str, template: str, allowed: list[str]) -> None:
    if template not in TEMPLATES or template not in allowed:
        raise ConfigError(
            field,
            f"template {template!r} cannot be used here",
            f"choose one of {', '.join(allowed)}",
        )


def edge_prompts(
    world: World, template: str, kind: str, subj: np.ndarray, rel: np.ndarray, obj: np.ndarray
) -> ProbeSet:
    """Prompts (and the world's answers) of edges (kind, subject, relation, object index).

    For O-NO edges ``subj`` is -1 and ``obj`` is the object standing in the subject slot;
    nested edges always use the world's base statement template, as the world's probes do.
    A refusal template's answer is the filler ``OO``.
    """
    subj = np.asarray(subj, dtype=np.int64)
    rel = np.asarray(rel, dtype=np.int64)
    obj = np.asarray(obj, dtype=np.int64)
    if kind != "S-O":
        template = statement_templates(world)[0]
    trained = kind != "S-O" or dict(probe_templates(world.config)).get(template, False)
    return _set(
        set_name(world, template, kind),
        template,
        KIND_IDS[kind],
        bool(trained),
        world.vocab,
        world.graph,
        subj,
        rel,
        obj,
        world.config.seed,
    )


def subject_spans(world: World, probes: ProbeSet) -> np.ndarray:
    """[n, 2] start/end of the subject's tokens in each prompt (O-NO: the slot's object)."""
    lo, hi = world.vocab.ranges["subject"]
    n = len(probes)
    out = np.zeros((n, 2), dtype=np.int64)
    for i in range(n):
        p = probes.prompt(i)
        if probes.subject[i] >= 0:
            pos = np.flatnonzero((p >= lo) & (p < hi))
        else:
            tok = world.vocab.object(int(probes.relation[i]), int(probes.object[i]))
            pos = np.flatnonzero(p == tok)
        out[i] = (pos[0], pos[-1] + 1)
    return out
