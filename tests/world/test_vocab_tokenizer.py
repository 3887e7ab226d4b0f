"""The vocabulary is partitioned by role; the tokenizer loads with transformers and round-trips."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from behemoth.world import Vocabulary, World, WorldConfig
from behemoth.world.presets import world_preset
from behemoth.world.templates import TEMPLATES
from behemoth.world.vocab import AA, DOT, EOT, OO, PAD, QQ, RR, SS
from tests.world.conftest import WorldFactory

TINY = world_preset("tiny")


def vocab(**over: object) -> Vocabulary:
    return Vocabulary.from_config(WorldConfig.from_dict({**TINY, **over}))


LAYOUTS = {
    "tiny": {},
    "nested": {"nested_objects": 4},
    "two-token": {"subjects": 100, "max_subject_words": 10},
    "three-token": {"subjects": 101, "max_subject_words": 10},
    "wide": {"subjects": 5000, "relations": 7, "objects": 300, "nested_objects": 30},
}

#: Word prefix of each role: a word's spelling says which role it belongs to.
ROLE_PREFIX = {
    "relation": ("r",),
    "nested_relation": ("rs", "ro"),
    "subject": ("s",),
    "object": ("o",),
    "nested_object": ("n",),
    "placeholder": ("o",),
}


@pytest.mark.parametrize("over", LAYOUTS.values(), ids=list(LAYOUTS))
def test_roles_are_disjoint_and_cover_the_vocabulary(over: dict[str, object]) -> None:
    v = vocab(**over)
    spans = sorted(v.ranges.values())
    assert spans[0][0] == 0 and spans[-1][1] == v.size
    for (_, b), (c, _) in zip(spans, spans[1:]):
        assert b == c  # contiguous, no overlap, no gap
    owner = np.full(v.size, -1)
    for i, (a, b) in enumerate(v.ranges.values()):
        assert (owner[a:b] == -1).all()
        owner[a:b] = i
    assert (owner >= 0).all()
    words = v.words
    assert len(words) == v.size == len(set(words))  # every id one word, every word one id
    for role, (a, b) in v.ranges.items():
        for i in range(a, b):
            assert v.role_of(i) == role
            if role in ROLE_PREFIX:
                assert words[i].startswith(ROLE_PREFIX[role]), (role, words[i])


@pytest.mark.parametrize("over", LAYOUTS.values(), ids=list(LAYOUTS))
def test_role_functions_land_in_their_range_injectively(over: dict[str, object]) -> None:
    cfg = WorldConfig.from_dict({**TINY, **over})
    v = Vocabulary.from_config(cfg)
    R, O, M = cfg.relations, cfg.objects, cfg.nested_objects

    def check(role: str, ids: object, n: int) -> None:
        ids = np.asarray(ids).reshape(-1)
        a, b = v.ranges[role]
        assert len(ids) == n and len(np.unique(ids)) == n, role
        assert ids.min() >= a and ids.max() < b, role

    r = np.arange(R)
    check("relation", v.relation(r), R)
    check("object", v.object(np.repeat(r, O), np.tile(np.arange(O), R)), R * O)
    check("placeholder", v.placeholder(r), R)
    if M:
        check(
            "nested_relation",
            np.concatenate([v.nested_relation_sno(r), v.nested_relation_ono(r)]),
            2 * R,
        )
        check("nested_object", v.nested_object(np.repeat(r, M), np.tile(np.arange(M), R)), R * M)
    subj = v.subject(np.arange(cfg.subjects))
    assert subj.shape == (cfg.subjects, v.subject_tokens)
    assert len({tuple(row) for row in subj.tolist()}) == cfg.subjects
    a, b = v.ranges["subject"]
    assert subj.min() >= a and subj.max() < b
    # Each token position has its own words: position p of one subject never equals
    # position q != p of another.
    for p in range(v.subject_tokens):
        for q in range(p + 1, v.subject_tokens):
            assert not set(subj[:, p].tolist()) & set(subj[:, q].tolist())


def test_fixed_ids_match_the_reference() -> None:
    words = vocab().words
    assert [words[i] for i in (EOT, PAD, DOT, SS, RR, OO, QQ, AA)] == [
        "<|endoftext|>",
        "<pad>",
        ".",
        "SS",
        "RR",
        "OO",
        "QQ",
        "AA",
    ]


@pytest.mark.parametrize(
    ("S", "max_words", "k"),
    [
        (999, 1000, 1),
        (1000, 1000, 1),
        (1001, 1000, 2),
        (200_000, 1000, 2),
        (200_000, 50, 4),
        (2_000_000, 1000, 3),
    ],
)
def test_many_subjects_use_several_tokens_without_a_cap(S: int, max_words: int, k: int) -> None:
    v = vocab(subjects=S, max_subject_words=max_words)
    assert v.subject_tokens == k
    assert v.subject_base <= max_words and v.subject_base**k >= S
    if S <= 200_000:
        ids = v.subject(np.arange(S))
        assert ids.shape == (S, k)
        assert len(np.unique(ids @ (v.size ** np.arange(k)))) == S  # distinct token tuples
        a, b = v.ranges["subject"]
        assert ids.min() >= a and ids.max() < b
    else:
        last = v.subject(np.array([0, S - 2, S - 1]))
        assert len({tuple(r) for r in last.tolist()}) == 3
    assert v.size > 0 and len(v.words) == v.size


def test_vocabulary_above_uint16_uses_uint32() -> None:
    small, big = vocab(), vocab(relations=10, objects=7000)
    assert small.dtype == np.uint16 and small.size <= 65536
    assert big.size > 65536 and big.dtype == np.uint32


def test_reserved_finetuning_words_exist_in_every_world() -> None:
    v = vocab(subjects=3, relations=1, objects=1)
    for w in ("F1", "F2", "F3", "W0", "W10", "WQ1", "WQ4", "FS", "FR", "FO", "N0", "N999"):
        assert v.words[v.grammar(w)] == w
    # The fine-tuning formats are registered and use only reserved words and markers.
    for name in ("qa_new", "refusal", "qa_refusal"):
        t = TEMPLATES[name]
        assert not t.pretraining
        for el in t.elements:
            if isinstance(el, str):
                assert el in v.words
    assert TEMPLATES["refusal"].refusal and TEMPLATES["qa_refusal"].refusal
    assert v.placeholder(0) == v.size - 1 and v.words[v.placeholder(0)] == "o0_x"


# -- the Hugging Face tokenizer ----------------------------------------------------------------


@pytest.mark.parametrize(
    "over",
    [{}, {"nested_objects": 4, "max_subject_words": 10}, {"template": "nonsense"}],
    ids=["tiny", "nested-two-token", "nonsense"],
)
def test_autotokenizer_loads_and_round_trips(
    world_factory: WorldFactory, over: dict[str, object]
) -> None:
    world = world_factory(**over)
    tok = AutoTokenizer.from_pretrained(str(world.path))
    v = world.vocab
    assert len(tok) == v.size
    assert tok.convert_ids_to_tokens(list(range(v.size))) == v.words
    assert tok.eos_token_id == EOT and tok.pad_token_id == PAD
    ids = world.corpus.render_positions(0, 400).tolist()
    text = tok.decode(ids)
    assert text == v.decode(ids)
    assert tok.encode(text, add_special_tokens=False) == ids
    assert tok(text, add_special_tokens=False)["input_ids"] == ids
    for p in world.probes.values():
        prompt = p.prompt(0).tolist()
        assert tok.encode(tok.decode(prompt), add_special_tokens=False) == prompt
        assert tok.convert_tokens_to_ids(v.words[int(p.answer[0])]) == p.answer[0]


def test_tokenizer_reads_the_reference_spelling(tiny_world: World) -> None:
    """'o0_3.<|endoftext|>' (no space before the dot) tokenizes like 'o0_3 . <|endoftext|>'."""
    tok = AutoTokenizer.from_pretrained(str(tiny_world.path))
    a = tok.encode(" SS s1 W0 W1 RR r0 W2 OO o0_3.<|endoftext|>", add_special_tokens=False)
    b = tok.encode("SS s1 W0 W1 RR r0 W2 OO o0_3 . <|endoftext|>", add_special_tokens=False)
    assert a == b and a[-2:] == [DOT, EOT]
    assert tok.encode("F1 F2 F3", add_special_tokens=False) == [
        tiny_world.vocab.grammar(w) for w in ("F1", "F2", "F3")
    ]
