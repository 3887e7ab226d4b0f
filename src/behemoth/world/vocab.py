"""The vocabulary: every token belongs to exactly one role.

Ids 0-7 match the reference (end-of-text, padding, ".", SS, RR, OO, QQ, AA). Then grammar words
(all templates' words, reserved up front, fine-tuning-only formats included), relation words,
subject words, object words (separate per relation), nested-object words, and one placeholder
object per relation (the "forgotten" answer). No role shares a token with another, so there
are no tokenizer collisions. There is no cap on the number of subjects: a subject is written
with as many tokens as needed, each position with its own words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from behemoth.world.config import WorldConfig
from behemoth.world.reference_vocab import FIRST_WORD_ID, FIXED_REFERENCE_WORDS, ReferenceLayout

EOT, PAD, DOT, SS, RR, OO, QQ, AA, UNK = range(9)
FIXED_WORDS = ["<|endoftext|>", "<pad>", ".", "SS", "RR", "OO", "QQ", "AA", "<unk>"]
#: Grammar words: W0..W10 (statement templates), WQ1..WQ4 (question), F1..F3 (new QA format,
#: fine-tuning only), FS/FR/FO (simple-repeats fillers), N0..N999 (nonsense grammar).
GRAMMAR_WORDS = (
    [f"W{i}" for i in range(11)]
    + [f"WQ{i}" for i in range(1, 5)]
    + [f"F{i}" for i in range(1, 4)]
    + ["FS", "FR", "FO"]
    + [f"N{i}" for i in range(1000)]
)
NONSENSE_WORDS = 1000
_POS_LETTERS = "abcdefgh"


def subject_layout(subjects: int, max_words: int) -> tuple[int, int]:
    """(tokens per subject, words per position): the fewest tokens with max_words^k >= S."""
    k = 1
    while max_words**k < subjects:
        k += 1
    base = subjects if k == 1 else math.ceil(subjects ** (1.0 / k))
    while base**k < subjects:  # floating-point guard
        base += 1
    return k, base


@dataclass(frozen=True)
class Vocabulary:
    """Token-id layout of a world. Pure: derived from the config alone."""

    subjects: int
    relations: int
    objects: int
    nested: int
    max_subject_words: int
    layout: str = "behemoth"  # or "reference": the reference generator's ids (4-digit words)

    @classmethod
    def from_config(cls, cfg: WorldConfig) -> Vocabulary:
        return cls(
            cfg.subjects,
            cfg.relations,
            cfg.objects,
            cfg.nested_objects,
            cfg.max_subject_words,
            cfg.vocab,
        )

    @cached_property
    def ref(self) -> ReferenceLayout | None:
        """The reference's layout when this vocabulary uses it, else None."""
        if self.layout != "reference":
            return None
        return ReferenceLayout(self.subjects, self.relations, self.objects, self.nested)

    # -- layout -----------------------------------------------------------------------------
    @cached_property
    def subject_tokens(self) -> int:
        if self.ref is not None:
            return self.ref.splits["subject"].tokens
        return subject_layout(self.subjects, self.max_subject_words)[0]

    @cached_property
    def subject_base(self) -> int:
        if self.ref is not None:
            split = self.ref.splits["subject"]
            return split.n if split.tokens == 1 else split.divisor
        return subject_layout(self.subjects, self.max_subject_words)[1]

    @cached_property
    def ranges(self) -> dict[str, tuple[int, int]]:
        """Role -> [start, end) id range; ranges are disjoint and cover the vocabulary."""
        if self.ref is not None:
            return _reference_ranges(self.ref)
        sizes = [
            ("special", len(FIXED_WORDS)),
            ("grammar", len(GRAMMAR_WORDS)),
            ("relation", self.relations),
            ("nested_relation", 2 * self.relations if self.nested else 0),
            ("subject", self.subject_tokens * self.subject_base),
            ("object", self.relations * self.objects),
            ("nested_object", self.relations * self.nested),
            ("placeholder", self.relations),
        ]
        out, start = {}, 0
        for name, n in sizes:
            out[name] = (start, start + n)
            start += n
        return out

    @property
    def size(self) -> int:
        return self.ranges["placeholder"][1]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.size <= 65536 else np.uint32)

    def grammar(self, word: str) -> int:
        if self.ref is not None:
            return self.ref.grammar_ids[word]
        return self.ranges["grammar"][0] + _GRAMMAR_INDEX[word]

    @cached_property
    def nonsense_ids(self) -> np.ndarray:
        """The words nonsense grammar draws from (uniformly)."""
        if self.ref is not None:
            return self.ref.nonsense_ids
        start = self.grammar("N0")
        return np.arange(start, start + NONSENSE_WORDS, dtype=np.int64)

    # -- ids of roles (vectorized) ------------------------------------------------------------
    def relation(self, r: np.ndarray | int) -> np.ndarray | int:
        return self.ranges["relation"][0] + r

    def nested_relation_sno(self, r: np.ndarray | int) -> np.ndarray | int:
        """The S-NO relation word of relation r ("subject's nested r")."""
        return self.ranges["nested_relation"][0] + r

    def nested_relation_ono(self, r: np.ndarray | int) -> np.ndarray | int:
        """The O-NO relation word of relation r (the object in the subject slot)."""
        return self.ranges["nested_relation"][0] + self.relations + r

    def object(self, r: np.ndarray | int, o: np.ndarray | int) -> np.ndarray | int:
        return self.ranges["object"][0] + r * self.objects + o

    def nested_object(self, r: np.ndarray | int, n: np.ndarray | int) -> np.ndarray | int:
        return self.ranges["nested_object"][0] + r * self.nested + n

    def placeholder(self, r: np.ndarray | int) -> np.ndarray | int:
        return self.ranges["placeholder"][0] + r

    def subject(self, s: np.ndarray) -> np.ndarray:
        """Subject indices [n] -> token ids [n, subject_tokens], most significant digit first."""
        s = np.asarray(s, dtype=np.int64)
        if self.ref is not None:
            return self.ref.splits["subject"].ids(s)
        k, b = self.subject_tokens, self.subject_base
        start = self.ranges["subject"][0]
        digits = np.empty((s.shape[0], k), dtype=np.int64)
        rest = s.copy()
        for pos in range(k - 1, -1, -1):
            digits[:, pos] = rest % b
            rest //= b
        return start + np.arange(k, dtype=np.int64) * b + digits

    # -- words ----------------------------------------------------------------------------------
    @cached_property
    def words(self) -> list[str]:
        """Id -> word string (role-prefixed, so no two roles can spell a word alike; in the
        reference's layout, the id as a 4-digit number)."""
        if self.ref is not None:
            out = [f"{i:04d}" for i in range(self.size)]
            out[: len(FIXED_REFERENCE_WORDS) + 1] = [*FIXED_REFERENCE_WORDS, "<unk>"]
            for i in range(len(FIXED_REFERENCE_WORDS) + 1, FIRST_WORD_ID):
                out[i] = f"<unused{i}>"
            return out
        w = list(FIXED_WORDS) + list(GRAMMAR_WORDS)
        w += [f"r{r}" for r in range(self.relations)]
        if self.nested:
            w += [f"rs{r}" for r in range(self.relations)] + [
                f"ro{r}" for r in range(self.relations)
            ]
        if self.subject_tokens == 1:
            w += [f"s{i}" for i in range(self.subject_base)]
        else:
            for pos in range(self.subject_tokens):
                w += [f"s{_POS_LETTERS[pos]}{i}" for i in range(self.subject_base)]
        w += [f"o{r}_{i}" for r in range(self.relations) for i in range(self.objects)]
        w += [f"n{r}_{i}" for r in range(self.relations) for i in range(self.nested)]
        w += [f"o{r}_x" for r in range(self.relations)]
        assert len(w) == self.size
        return w

    def role_of(self, token_id: int) -> str:
        for name, (a, b) in self.ranges.items():
            if a <= token_id < b:
                return name
        raise KeyError(token_id)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        words = self.words
        return " ".join(words[int(i)] for i in ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "size": self.size,
            "dtype": self.dtype.name,
            "subject_tokens": self.subject_tokens,
            "subject_base": self.subject_base,
            "ranges": {k: list(v) for k, v in self.ranges.items()},
        }


_GRAMMAR_INDEX = {w: i for i, w in enumerate(GRAMMAR_WORDS)}


def _reference_ranges(ref: ReferenceLayout) -> dict[str, tuple[int, int]]:
    """Role ranges of the reference's layout; "grammar" also spans its two unused ids."""
    sp, R = ref.splits, ref.relations
    end = ref.vocab_size
    ranges = {
        "special": (0, FIRST_WORD_ID),
        "subject": (sp["subject"].start, sp["subject"].end),
        "relation": (sp["relation"].start, sp["relation"].end),
        "object": (sp["object0"].start, sp[f"object{R - 1}"].end),
    }
    if ref.nested:
        ranges["nested_relation"] = (sp["nested_relation_sno"].start, sp["nested_relation_ono"].end)
        ranges["nested_object"] = (sp["nested0"].start, sp[f"nested{R - 1}"].end)
    else:
        o_end = ranges["object"][1]
        ranges["nested_relation"] = ranges["nested_object"] = (o_end, o_end)
    ranges["grammar"] = (ref.meaningful_end, end + 2)  # + the fine-tuning QA words
    ranges["placeholder"] = (end + 2, end + 2 + R)
    return ranges
