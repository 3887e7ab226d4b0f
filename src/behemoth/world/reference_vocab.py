"""The reference generator's token-id layout (IST-DASLab/behemoth, arXiv 2601.23153).

In the reference, every word is a 4-digit number whose token id is that number. Its layout is
a pure function of the counts (S subjects, R relations, O objects, M nested objects):

- ids 0-7: end-of-text, padding, ".", SS, RR, OO, QQ, AA (as ours); 8-84: tokens inherited from
  its base (Pythia) tokenizer, never used by its text. Meaningful words start at 85.
- subjects, relations, then O objects per relation, then (nested worlds) R S-NO relation
  words, R O-NO relation words and M nested objects per relation. A role of n < 1000 words
  takes n consecutive ids; n >= 1000 words take two tokens each: a divisor d is chosen
  (1000 when it divides n, else ``floor(sqrt(n)) - (n mod floor(sqrt(n)))``), word i is
  (i // d, i mod d) with the ceil(n/d) first tokens before the d second tokens.
- one unused id, then the grammar words in the order its phrase creators claim them:
  W0..W10 (statements), 3 simple-repeats fillers, 3 new-QA words, WQ1..WQ4 (questions),
  W11..W999 (nonsense grammar, which draws among all ``W*`` words, WQ included).
- ``vocab_size`` (its metadata.json) is one more than the last grammar id, plus one.
- the new QA format's words (our F1..F3) are the ones ``create_finetuning_data.py`` allocates:
  it starts again at ``vocab_size - 1``, so they are ``vocab_size - 1 .. vocab_size + 1`` (the
  three reserved at pretraining are never used).

Our forgetting placeholders (one per relation) come after those, so the reference's ids never
move. :class:`ReferenceLayout` computes all of it; :class:`behemoth.world.vocab.Vocabulary`
uses it when a world's ``vocab`` is ``"reference"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

#: First meaningful id: 8 fixed words and the 77 tokens of the reference's base tokenizer.
FIRST_WORD_ID = 85
FIXED_REFERENCE_WORDS = ["<|endoftext|>", "<|padding|>", ".", "SS", "RR", "OO", "QQ", "AA"]
_STATEMENT_WORDS = [f"W{i}" for i in range(11)]
_QUESTION_WORDS = [f"WQ{i}" for i in range(1, 5)]
NONSENSE_TOTAL = 1000


@dataclass(frozen=True)
class Split:
    """A role of ``n`` words starting at id ``start``: one or two tokens per word."""

    n: int
    start: int

    @cached_property
    def divisor(self) -> int:
        n = self.n
        if n < 1000:
            return 0
        if n > 1_000_000:
            raise ValueError(f"the reference's layout supports at most 10^6 words per role ({n})")
        if n % 1000 == 0:
            return 1000
        root = math.isqrt(n)
        d = root - n % root
        if n // d > 1000:
            raise ValueError(f"the reference cannot write {n} words as two tokens")
        return d

    @property
    def tokens(self) -> int:
        return 1 if self.n < 1000 else 2

    @cached_property
    def firsts(self) -> int:
        return self.n if self.n < 1000 else (self.n - 1) // self.divisor + 1

    @property
    def end(self) -> int:
        return self.start + self.n if self.n < 1000 else self.start + self.firsts + self.divisor

    def ids(self, i: np.ndarray) -> np.ndarray:
        """Word indices [n] -> token ids [n, tokens]."""
        i = np.asarray(i, dtype=np.int64)
        if self.n < 1000:
            return (self.start + i)[:, None]
        d = self.divisor
        return np.stack([self.start + i // d, self.start + self.firsts + i % d], axis=1)

    def remap(self) -> list[list[int]]:
        return self.ids(np.arange(self.n)).tolist()


@dataclass(frozen=True)
class ReferenceLayout:
    """Token ids of every role of a world with S subjects, R relations, O objects, M nested."""

    subjects: int
    relations: int
    objects: int
    nested: int

    @cached_property
    def splits(self) -> dict[str, Split]:
        out: dict[str, Split] = {}
        nxt = FIRST_WORD_ID
        sizes = [("subject", self.subjects), ("relation", self.relations)]
        sizes += [(f"object{r}", self.objects) for r in range(self.relations)]
        if self.nested:
            sizes += [("nested_relation_sno", self.relations)]
            sizes += [("nested_relation_ono", self.relations)]
            sizes += [(f"nested{r}", self.nested) for r in range(self.relations)]
        for name, n in sizes:
            out[name] = Split(n, nxt)
            nxt = out[name].end
        return out

    @cached_property
    def meaningful_end(self) -> int:
        """The id after the last meaningful word (then one id is left unused)."""
        return max(s.end for s in self.splits.values())

    @cached_property
    def grammar_ids(self) -> dict[str, int]:
        """Our grammar word name -> the reference's id for it (FS/FR/FO = simple-repeats
        fillers, F1..F3 = the new QA format, N0..N999 = nonsense words W0..W999)."""
        g = self.meaningful_end + 1
        ids: dict[str, int] = {}
        for i, w in enumerate(_STATEMENT_WORDS):
            ids[w] = g + i
        for i, w in enumerate(["FS", "FR", "FO"]):
            ids[w] = g + 11 + i
        for i, w in enumerate(["F1", "F2", "F3"]):  # as its fine-tuning script allocates them
            ids[w] = self.vocab_size - 1 + i
        for i, w in enumerate(_QUESTION_WORDS):
            ids[w] = g + 17 + i
        for i in range(NONSENSE_TOTAL):
            ids[f"N{i}"] = ids[f"W{i}"] if i < 11 else g + 21 + (i - 11)
        return ids

    @cached_property
    def other_special_tokens(self) -> dict[str, str]:
        """The reference's ``other_special_tokens.json``, in its insertion order."""
        ids = self.grammar_ids
        out = {w: f"{ids[w]:04d}" for w in _STATEMENT_WORDS + _QUESTION_WORDS}
        out.update({f"W{i}": f"{ids[f'N{i}']:04d}" for i in range(11, NONSENSE_TOTAL)})
        return out

    @cached_property
    def nonsense_ids(self) -> np.ndarray:
        """The words the reference's nonsense grammar draws from: every ``W*`` grammar word,
        in its dictionary's order (W0..W10, WQ1..WQ4, W11..W999)."""
        return np.array([int(v) for v in self.other_special_tokens.values()], dtype=np.int64)

    @property
    def grammar_end(self) -> int:
        return self.meaningful_end + 1 + 21 + NONSENSE_TOTAL - 11

    @property
    def vocab_size(self) -> int:
        """The ``vocab_size`` of the reference's ``metadata.json``."""
        return self.grammar_end + 1

    def remappings_map(self) -> dict[str, Any]:
        """The reference's ``remappings_map.json`` (without its base tokenizer's
        ``special_vocab``, which only our fixed ids stand for)."""
        sp = self.splits
        out: dict[str, Any] = {
            "special_vocab": {w: i for i, w in enumerate(FIXED_REFERENCE_WORDS[:3])},
            "subjects": sp["subject"].remap(),
            "relationships": sp["relation"].remap(),
            "objects": [x for r in range(self.relations) for x in sp[f"object{r}"].remap()],
        }
        if self.nested:
            out["subject_nested_relationships"] = sp["nested_relation_sno"].remap()
            out["object_nested_relationships"] = sp["nested_relation_ono"].remap()
            out["object_nested_objects"] = [
                x for r in range(self.relations) for x in sp[f"nested{r}"].remap()
            ]
        return out
