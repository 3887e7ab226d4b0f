"""Sentence templates: each one is a pattern of slots, rendered for many facts at once.

A template is a sequence of elements: a fixed grammar word, the subject / relation / object slot,
or a variable-length run of filler words (simple repeats) or random nonsense words. Rendering is
vectorized: a batch of facts becomes a matrix of token ids with -1 where a variable element is
shorter than its maximum. New templates register themselves with :func:`register`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from behemoth.registry import Registry
from behemoth.world.rng import below, mix64, uniform
from behemoth.world.vocab import AA, OO, QQ, RR, SS, Vocabulary


@dataclass(frozen=True)
class Slot:
    """A role filler: "S" (subject, several tokens), "R" (relation) or "O" (object)."""

    role: str


@dataclass(frozen=True)
class Run:
    """n copies (lo <= n <= hi) of one grammar word, n drawn per sentence."""

    word: str
    lo: int
    hi: int


@dataclass(frozen=True)
class Noise:
    """1..hi random nonsense words: 1 + a geometric count with continuation probability p."""

    hi: int = 5
    p: float = 0.4


Element = int | str | Slot | Run | Noise  # int = fixed id, str = grammar word


@dataclass(frozen=True)
class Template:
    """A sentence pattern. ``probe`` says whether the object comes last (a clean fact probe)."""

    name: str
    elements: tuple[Element, ...]
    probe: bool = True
    pretraining: bool = True
    refusal: bool = False  # the object slot holds the refusal filler "OO OO" instead of an object
    description: str = ""
    uses: tuple[str, ...] = field(default=())


TEMPLATES: Registry[Template] = Registry("template")


def register(t: Template) -> Template:
    return TEMPLATES.add(t.name, t)


def get_template(name: str) -> Template:
    return TEMPLATES.get_entry(name)


S, R, O = Slot("S"), Slot("R"), Slot("O")
register(Template("sro", (SS, S, "W0", "W1", RR, R, "W2", OO, O), description="default order"))
register(Template("sor", (SS, S, "W0", OO, O, "W3", "W4", RR, R), probe=False))
register(Template("osr", (OO, O, "W5", SS, S, "W8", RR, R), probe=False))
register(Template("rso", ("W9", RR, R, "W7", SS, S, "W5", OO, O)))
register(Template("question", (QQ, "WQ1", RR, R, "WQ2", SS, S, "WQ3", "WQ4", AA, OO, O)))
register(
    Template(
        "simple_repeats",
        (
            Run("FS", 1, 3),
            SS,
            S,
            Run("FS", 0, 3),
            Run("FR", 1, 3),
            RR,
            R,
            Run("FR", 0, 3),
            Run("FO", 1, 3),
            OO,
            O,
        ),
        description="1-3 filler words before each role and 0-3 after (none after the object, "
        "so that the object is last and the sentence is a probe)",
    )
)
register(Template("nonsense_sro", (Noise(), SS, S, Noise(), RR, R, Noise(), OO, O)))
register(Template("nonsense_rso", (Noise(), RR, R, Noise(), SS, S, Noise(), OO, O)))
# Fine-tuning-only formats: their words are reserved in the vocabulary but never pretrained.
register(Template("qa_new", (QQ, "F1", RR, R, "F2", SS, S, "F3", AA, OO, O), pretraining=False))
register(
    Template("refusal", (SS, S, "W0", "W1", RR, R, "W2", OO, O), pretraining=False, refusal=True)
)
register(
    Template(
        "qa_refusal",
        (QQ, "WQ1", RR, R, "WQ2", SS, S, "WQ3", "WQ4", AA, OO, O),
        pretraining=False,
        refusal=True,
    )
)

#: Inversions used by ``inversion_frac`` with the sro base grammar (uniform among them).
INVERSIONS = ("sor", "osr", "rso")


@dataclass
class Facts:
    """A batch of sentences to render: role fillers as token ids.

    ``subj`` is [n, k] with -1 padding (an O-NO edge puts its 1-token object in the subject slot).
    ``bits`` gives 64 random bits per sentence for its variable elements.
    """

    subj: np.ndarray
    rel: np.ndarray
    obj: np.ndarray
    bits: np.ndarray

    def __len__(self) -> int:
        return int(self.rel.shape[0])

    def take(self, idx: np.ndarray) -> Facts:
        return Facts(self.subj[idx], self.rel[idx], self.obj[idx], self.bits[idx])


def is_fixed(t: Template) -> bool:
    """Whether the template has no random element: its sentences depend on the facts alone."""
    return not any(isinstance(el, (Run, Noise)) for el in t.elements)


def _widths(t: Template, k: int) -> list[int]:
    """Columns each element occupies (its maximum length); ``k`` = tokens per subject."""
    out = []
    for el in t.elements:
        if isinstance(el, Slot):
            out.append(k if el.role == "S" else 2 if (el.role == "O" and t.refusal) else 1)
        elif isinstance(el, (Run, Noise)):
            out.append(el.hi)
        else:
            out.append(1)
    return out


def render_matrix(
    t: Template,
    facts: Facts,
    vocab: Vocabulary,
    tail: tuple[int, ...] = (),
    dtype: type = np.int64,
) -> tuple[np.ndarray, int, bool]:
    """Render a template into a preallocated matrix [n, L + len(tail)] (-1 = absent), int64 or
    any signed ``dtype`` that holds every token id.

    Returns (matrix, object column, ragged): ``ragged`` is False when no entry can be -1 (fixed
    templates and full-width subjects), so that rows can be concatenated without masking.
    Constant columns are written once as a broadcast row; only the fillers vary per row.
    """
    n = len(facts)
    k = int(facts.subj.shape[1])
    widths = _widths(t, k)
    L = sum(widths)
    row: np.ndarray = np.full(L + len(tail), -1, dtype=dtype)
    row[L:] = tail
    col = 0
    for el, w in zip(t.elements, widths):
        if isinstance(el, int):
            row[col] = el
        elif isinstance(el, str):
            row[col] = vocab.grammar(el)
        elif isinstance(el, Slot) and el.role == "O" and t.refusal:
            row[col : col + w] = OO
        col += w
    mat: np.ndarray = np.empty((n, len(row)), dtype=dtype)
    mat[:] = row
    ragged = bool(k > 1 and (facts.subj < 0).any())
    col, obj_col = 0, -1
    for i, (el, w) in enumerate(zip(t.elements, widths)):
        salt = np.uint64(0x51ED27 + 7919 * i)
        dst = mat[:, col : col + w]
        if isinstance(el, Slot):
            if el.role == "S":
                dst[:] = facts.subj
            elif el.role == "R":
                dst[:, 0] = facts.rel
            else:
                obj_col = col
                if not t.refusal:
                    dst[:, 0] = facts.obj
        elif isinstance(el, Run):
            count = el.lo + below(mix64(facts.bits ^ salt), el.hi - el.lo + 1)
            dst[:] = np.where(
                np.arange(el.hi)[None, :] < count[:, None], vocab.grammar(el.word), -1
            )
            ragged |= el.lo < el.hi
        elif isinstance(el, Noise):
            h = mix64(facts.bits ^ salt)
            count = np.ones(n, dtype=np.int64)
            alive = np.ones(n, dtype=bool)
            for _ in range(1, el.hi):
                h = mix64(h)
                alive &= uniform(h) < el.p
                count += alive
            for j in range(el.hi):
                h = mix64(h)
                words = vocab.nonsense_ids
                dst[:, j] = np.where(j < count, words[below(h, len(words))], -1)
            ragged |= el.hi > 1
        elif not isinstance(el, (int, str)):  # pragma: no cover - guarded by the Element type
            raise TypeError(el)
        col += w
    return mat, obj_col, ragged


def render(t: Template, facts: Facts, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Render a template for a batch of facts.

    Returns (matrix [n, L] int64 with -1 for absent positions, object column [n]): the column of
    the (first) object token, so that ``matrix[:, :col]`` is the probe prompt.
    """
    mat, obj_col, _ = render_matrix(t, facts, vocab)
    return mat, np.full(len(facts), obj_col, dtype=np.int64)


def pack_rows(mat: np.ndarray, tail: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Drop -1 entries row by row and append ``tail`` to each row -> (flat tokens, lengths)."""
    if tail:
        mat = np.concatenate([mat, np.tile(np.array(tail, dtype=mat.dtype), (mat.shape[0], 1))], 1)
    valid = mat >= 0
    return mat[valid], valid.sum(axis=1)


def render_mixed(
    template_ids: np.ndarray,
    names: tuple[str, ...],
    facts: Facts,
    vocab: Vocabulary,
    tail: tuple[int, ...],
    dtype: type = np.int64,
) -> tuple[np.ndarray, np.ndarray]:
    """Render sentences whose template varies per row (``names[template_ids[i]]``), in row order.

    Returns (flat tokens in ``dtype``, int64 per-row lengths), each row followed by ``tail``.
    """
    n = len(facts)
    present = np.flatnonzero(np.bincount(template_ids, minlength=len(names)))
    if len(present) == 1:  # one template: no row selection, and no masking when not ragged
        t = get_template(names[int(present[0])])
        mat, _, ragged = render_matrix(t, facts, vocab, tail, dtype)
        if not ragged:
            return mat.reshape(-1), np.full(n, mat.shape[1], dtype=np.int64)
        valid = mat >= 0
        return mat[valid], valid.sum(axis=1)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    lengths = np.zeros(n, dtype=np.int64)
    for t_id in present:
        rows = np.flatnonzero(template_ids == t_id)
        mat, _, ragged = render_matrix(
            get_template(names[int(t_id)]), facts.take(rows), vocab, tail, dtype
        )
        mask = (mat >= 0) if ragged else None
        lengths[rows] = mask.sum(axis=1) if mask is not None else mat.shape[1]
        parts.append((rows, mat, mask))
    starts = np.cumsum(lengths) - lengths
    out: np.ndarray = np.empty(int(lengths.sum()), dtype=dtype)
    for rows, mat, mask in parts:
        if mask is None:
            out[starts[rows][:, None] + np.arange(mat.shape[1])] = mat
        else:
            pos = np.cumsum(mask, axis=1) - 1 + starts[rows][:, None]
            out[pos[mask]] = mat[mask]
    return out, lengths
