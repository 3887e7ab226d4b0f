"""Edit prompts as tensors: context prefixes, the edit token position, and KL prompts.

ROME and MEMIT read the key and optimize the value over the edit prompt preceded by several
short random contexts (ROME, Sec. 3.1: "we average over a small set of texts x_j + s"), so the
edit holds whatever comes before. The original code generates these contexts with the model
itself; here they are documents in the corpus format (a fact statement, its period, end of
text), truncated from the left, so they are exactly the kind of text the model was trained on.

No editor-internal prompt may come from a test set (issue 8; :mod:`behemoth.scenarios.split`):
within a scenario the prefix documents are the statements of ``context.editor_facts`` and the
KL prompts are the edited subject's reserved facts in it. Without editor facts (an ``apply``
outside any scenario, where nothing is tested) they fall back to the corpus stream and to every
other relation. :func:`recording_editor_inputs` records every such prompt, so a test can pass
them to :func:`behemoth.scenarios.split.check_editor_inputs`.

Rows are right-padded: a causal model never attends to the padding after a row's last token,
so no attention mask or position shift is needed.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from behemoth.scenarios.request import EditRequest
from behemoth.world.probes import ProbeSet
from behemoth.world.rng import derive_rng
from behemoth.world.vocab import DOT, EOT, PAD
from behemoth.world.world import World

if TYPE_CHECKING:
    from behemoth.scenarios.testset import TestSet

Token = Literal["subject_last", "prompt_last"]


@dataclass
class PromptBatch:
    """Right-padded prompts with, per row, the edit position, the answer position and target."""

    ids: torch.Tensor  # [n, T] int64
    edit_pos: torch.Tensor  # [n] where the key is read / the value is added
    answer_pos: torch.Tensor  # [n] last prompt token: its logits predict the target
    target: torch.Tensor  # [n] target token id (-1 when none)
    request: torch.Tensor  # [n] index of the request each row belongs to

    def to(self, device: torch.device) -> PromptBatch:
        return PromptBatch(
            *(
                t.to(device)
                for t in (self.ids, self.edit_pos, self.answer_pos, self.target, self.request)
            )
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])


_RECORDER: contextvars.ContextVar[list[tuple[str, tuple[int, ...]]] | None] = (
    contextvars.ContextVar("editor_inputs", default=None)
)


@contextlib.contextmanager
def recording_editor_inputs() -> Iterator[list[tuple[str, tuple[int, ...]]]]:
    """Record, as (kind, prompt) pairs, every prompt an editor builds besides its edit requests:
    KL prompts, the statements inside context prefixes and replayed facts."""
    rec: list[tuple[str, tuple[int, ...]]] = []
    token = _RECORDER.set(rec)
    try:
        yield rec
    finally:
        _RECORDER.reset(token)


def note_inputs(kind: str, prompts: Sequence[Sequence[int]]) -> None:
    """Tell an active :func:`recording_editor_inputs` about prompts an editor uses."""
    rec = _RECORDER.get()
    if rec is not None:
        rec.extend((kind, tuple(int(t) for t in p)) for p in prompts)


def document_prompts(tokens: Sequence[int]) -> list[tuple[int, ...]]:
    """The probe prompts of the complete corpus documents inside ``tokens``: each document
    ``sentence + (DOT, EOT)`` after an end of text gives ``EOT + sentence`` without its object."""
    toks = [int(t) for t in tokens]
    ends = [i for i, t in enumerate(toks) if t == EOT]
    out = []
    for a, b in zip(ends, ends[1:]):
        if b - a > 3 and toks[b - 1] == DOT:
            out.append(tuple(toks[a : b - 2]))
    return out


def as_probes(facts: TestSet | ProbeSet | None) -> ProbeSet | None:
    """The probes of a TestSet (or the ProbeSet itself, or None)."""
    if facts is None or isinstance(facts, ProbeSet):
        return facts
    return facts.probes


def note_facts(probes: ProbeSet, rows: Sequence[int]) -> None:
    """Tell an active recorder that an editor uses the facts ``rows`` of ``probes``, recorded as
    ("fact", (subject, relation)) pairs."""
    rec = _RECORDER.get()
    if rec is not None:
        rec.extend(
            ("fact", (int(probes.subject[int(i)]), int(probes.relation[int(i)])))
            for i in sorted({int(i) for i in rows if int(i) >= 0})
        )


def fact_documents(probes: ProbeSet, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The statements of ``probes`` (prompt, answer) as corpus documents (sentence, period, end
    of text), in a random order, concatenated and starting with an end of text -> (tokens,
    the probe row each token belongs to, -1 for the leading end of text)."""
    docs: list[int] = [EOT]
    owner: list[int] = [-1]
    for i in rng.permutation(len(probes)):
        prompt = [int(t) for t in probes.prompt(int(i))]
        doc = (prompt[1:] if prompt and prompt[0] == EOT else prompt) + [
            int(probes.answer[int(i)]),
            DOT,
            EOT,
        ]
        docs += doc
        owner += [int(i)] * len(doc)
    return np.asarray(docs, dtype=np.int64), np.asarray(owner, dtype=np.int64)


def context_prefixes(
    world: World,
    n: int,
    lengths: Sequence[int],
    seed: int,
    facts: TestSet | ProbeSet | None = None,
) -> list[list[int]]:
    """``n`` prefixes: the last ``lengths[i % len]`` tokens of random documents, each ending
    with its end-of-text token (so a prompt can follow as the next document).

    The documents are the statements of ``facts`` (a scenario's editor facts, never tested)
    when given and non-empty, else the start of the world's corpus stream."""
    if n == 0:
        return []
    rng = derive_rng(seed, "editor-context-prefixes")
    probes = as_probes(facts)
    owner = None
    if probes is not None and len(probes) > 0:
        seq, owner = fact_documents(probes, derive_rng(seed, "editor-prefix-documents"))
    else:
        seq = world.sampler(256, 8).next_batch().reshape(-1)  # the start of the training stream
    ends = np.flatnonzero(seq == EOT)
    out = []
    for i in range(n):
        L = int(lengths[i % len(lengths)])
        ok = ends[ends >= L - 1]
        end = int(ok[int(rng.integers(len(ok)))]) if len(ok) else int(ends[-1])
        start = max(0, end - L + 1)  # fewer tokens than L: the whole sequence up to this end
        out.append([int(t) for t in seq[start : end + 1]])
        if owner is not None and probes is not None:  # every fact a prefix shows, even in part
            note_facts(probes, owner[start : end + 1].tolist())
        else:
            note_inputs("prefix", document_prompts(out[-1]))
    return out


def edit_position(req: EditRequest, token: Token, offset: int = 0) -> int:
    """Where ROME/MEMIT act in ``req.prompt``: the subject's last token or the prompt's last."""
    pos = req.subject_last if token == "subject_last" else len(req.prompt) - 1
    return pos + offset


def _join(prefix: list[int], prompt: tuple[int, ...]) -> tuple[list[int], int]:
    """prefix + prompt, dropping the prompt's leading EOT when the prefix already ends with one."""
    if prefix and prompt and prefix[-1] == EOT and prompt[0] == EOT:
        return prefix + list(prompt[1:]), len(prefix) - 1
    return prefix + list(prompt), len(prefix)


def build_batch(
    prompts: Sequence[tuple[int, ...]],
    edit_pos: Sequence[int],
    targets: Sequence[int],
    requests: Sequence[int],
    prefixes: Sequence[list[int]] = (),
) -> PromptBatch:
    """Every prompt alone and after every prefix; positions shifted accordingly."""
    rows: list[list[int]] = []
    pos, ans, tgt, req = [], [], [], []
    for p, e, t, r in zip(prompts, edit_pos, targets, requests):
        for prefix in [[], *prefixes]:
            ids, shift = _join(list(prefix), p)
            rows.append(ids)
            pos.append(e + shift)
            ans.append(len(ids) - 1)
            tgt.append(t)
            req.append(r)
    T = max(len(row) for row in rows)
    mat = torch.full((len(rows), T), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        mat[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return PromptBatch(
        mat, torch.tensor(pos), torch.tensor(ans), torch.tensor(tgt), torch.tensor(req)
    )


def rewrite_batch(
    requests: Sequence[EditRequest], token: Token, prefixes: Sequence[list[int]]
) -> PromptBatch:
    """The edit prompts (plain and prefixed) with target ``target_new``."""
    return build_batch(
        [r.prompt for r in requests],
        [edit_position(r, token) for r in requests],
        [r.target_new for r in requests],
        list(range(len(requests))),
        prefixes,
    )


def kl_batch(
    requests: Sequence[EditRequest],
    token: Token,
    world: World,
    mode: str,
    editor_facts: TestSet | ProbeSet | None = None,
) -> PromptBatch | None:
    """Prompts whose next-token distribution the edit should keep (ROME's "{subject} is a").

    ``other_relations``: the edit prompt with its relation replaced by each relation of the
    subject's facts in ``editor_facts`` (the scenario reserves them for editors, never tests
    them; without ``editor_facts``: every other relation of the world), i.e. the subject's
    other facts, which the edit must not move; ``subject``: the prompt cut after the subject.
    """
    probes = as_probes(editor_facts)
    prompts, pos, reqs = [], [], []
    for i, r in enumerate(requests):
        if mode == "other_relations" and r.relation >= 0:
            rel_tok = int(world.vocab.relation(r.relation))
            if rel_tok not in r.prompt:
                continue
            if probes is None:
                others = [o for o in range(world.config.relations) if o != r.relation]
            else:
                mine = (probes.subject == r.subject) & (probes.relation != r.relation)
                others = sorted({int(o) for o in probes.relation[mine]})
            for other in others:
                tok = int(world.vocab.relation(other))
                prompts.append(tuple(tok if t == rel_tok else t for t in r.prompt))
                pos.append(edit_position(r, token))
                reqs.append(i)
        elif mode == "subject":
            prompts.append(tuple(r.prompt[: r.subject_span[1]]))
            pos.append(r.subject_last)
            reqs.append(i)
    if not prompts:
        return None
    note_inputs("kl", prompts)
    return build_batch(prompts, pos, [-1] * len(prompts), reqs)
