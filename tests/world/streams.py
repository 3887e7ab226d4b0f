"""Test helpers: split a token stream into sentences and read each sentence's roles back.

The parser is independent of the renderer: it only knows the markers (SS, RR, OO), the role
ranges of the vocabulary and that every sentence ends with ". <|endoftext|>". The filler after
``SS`` is the subject (its ``subject_tokens`` tokens, or one object token for an O-NO edge), the
token after ``RR`` the relation and the token after ``OO`` the object. Everything else is kept
as words, so a sentence's *form* (its template, fillers replaced by <S>/<R>/<O>) can be compared
with the templates' patterns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from behemoth.world.config import WorldConfig
from behemoth.world.corpus import Corpus
from behemoth.world.graph import Graph, sample_graph
from behemoth.world.presets import world_preset
from behemoth.world.vocab import DOT, EOT, OO, RR, SS, Vocabulary


@dataclass(frozen=True)
class Sentence:
    form: tuple[str, ...]  # words, with the role fillers replaced by <S>, <R>, <O>
    subject: tuple[int, ...]  # token ids in the subject slot
    relation: int  # token id after RR
    object: int  # token id after OO (the object or nested object)

    @property
    def fact(self) -> tuple[tuple[int, ...], int, int]:
        return self.subject, self.relation, self.object


def build(**overrides: object) -> tuple[WorldConfig, Graph, Vocabulary, Corpus]:
    """A world in memory (nothing written): the ``tiny`` preset with overrides."""
    cfg = WorldConfig.from_dict({**world_preset("tiny"), **overrides})
    graph = sample_graph(cfg)
    vocab = Vocabulary.from_config(cfg)
    return cfg, graph, vocab, Corpus(cfg, graph, vocab)


def split_sentences(tokens: np.ndarray) -> list[np.ndarray]:
    """Cut a stream after every end-of-text; every piece must end with '. <|endoftext|>'."""
    tokens = np.asarray(tokens)
    ends = np.flatnonzero(tokens == EOT)
    assert len(ends) and ends[-1] == len(tokens) - 1, "stream does not end with end-of-text"
    pieces = np.split(tokens, ends[:-1] + 1)
    for p in pieces:
        assert len(p) >= 3 and p[-2] == DOT, f"sentence without '.' before end-of-text: {p}"
    return pieces


class Parser:
    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.words = vocab.words
        self.role = np.empty(vocab.size, dtype=object)
        for name, (a, b) in vocab.ranges.items():
            self.role[a:b] = name

    def parse(self, sent: np.ndarray) -> Sentence:
        toks = [int(t) for t in sent[:-2]]
        form: list[str] = []
        subject: tuple[int, ...] = ()
        relation = obj = -1
        i = 0
        k = self.vocab.subject_tokens
        while i < len(toks):
            t = toks[i]
            role = self.role[t]
            if role not in ("special", "grammar"):
                raise AssertionError(
                    f"role filler {self.words[t]} outside a slot: {self.vocab.decode(toks)}"
                )
            form.append(self.words[t])
            i += 1
            if t == SS:
                n = 1 if self.role[toks[i]] == "object" else k
                subject = tuple(toks[i : i + n])
                roles = {self.role[x] for x in subject}
                assert roles in ({"subject"}, {"object"}), self.vocab.decode(toks)
                form.append("<S>")
                i += n
            elif t == RR:
                relation = toks[i]
                assert self.role[relation] in ("relation", "nested_relation"), self.vocab.decode(
                    toks
                )
                form.append("<R>")
                i += 1
            elif t == OO:
                obj = toks[i]
                assert self.role[obj] in ("object", "nested_object"), self.vocab.decode(toks)
                form.append("<O>")
                i += 1
        assert subject and relation >= 0 and obj >= 0, self.vocab.decode(toks)
        return Sentence(tuple(form), subject, relation, obj)

    def parse_stream(self, tokens: np.ndarray) -> list[Sentence]:
        return [self.parse(s) for s in split_sentences(tokens)]


def one_pass(corpus: Corpus, cycle: int = 0) -> list[Sentence]:
    """Every sentence of one pass over the corpus (stream positions of one cycle)."""
    n = corpus.n_units
    return Parser(corpus.vocab).parse_stream(corpus.render_positions(cycle * n, (cycle + 1) * n))


def expected_so_facts(graph: Graph, vocab: Vocabulary) -> Counter[tuple[tuple[int, ...], int, int]]:
    """Each S-O fact (subject tokens, relation id, object id) once, from the graph."""
    S, R = graph.objects.shape
    subj = vocab.subject(np.arange(S))
    out: Counter[tuple[tuple[int, ...], int, int]] = Counter()
    for s in range(S):
        for r in range(R):
            out[
                (
                    tuple(int(x) for x in subj[s]),
                    int(vocab.relation(r)),
                    int(vocab.object(r, graph.objects[s, r])),
                )
            ] += 1
    return out


#: The reference's sentence patterns (reference-format.md), written out independently of
#: ``behemoth.world.templates``: s / r / o mark the subject, relation and object slots.
REFERENCE_FORMS = {
    "sro": "SS s W0 W1 RR r W2 OO o",
    "sor": "SS s W0 OO o W3 W4 RR r",
    "osr": "OO o W5 SS s W8 RR r",
    "rso": "W9 RR r W7 SS s W5 OO o",
    "question": "QQ WQ1 RR r WQ2 SS s WQ3 WQ4 AA OO o",
    "qa_new": "QQ F1 RR r F2 SS s F3 AA OO o",
}


def form(name: str) -> tuple[str, ...]:
    """A reference pattern as a parsed sentence's form."""
    slot = {"s": "<S>", "r": "<R>", "o": "<O>"}
    return tuple(slot.get(w, w) for w in REFERENCE_FORMS[name].split())
