"""Worlds written by the reference generator itself: import then export gives its files back.

The fixtures under ``tests/fixtures/reference/`` are small worlds generated once by the
reference's ``create_data.py`` (see their README for the commands); only its output data is
kept (no code, no pickles, not its tokenizer). Its shuffled validation lines come back in its
order, and import keeps its token ids: our probes are its very token sequences.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from behemoth.world.config import WorldConfig
from behemoth.world.reference import export_reference, import_reference, validation_lines
from behemoth.world.vocab import EOT, RR, SS, Vocabulary

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
WORLDS = sorted(p.name for p in FIXTURES.iterdir() if (p / "metadata").is_dir())
#: Files whose bytes depend on the reference's random draws, not on the world: the token count
#: of a corpus with random inversions or random filler counts (simple repeats), and (nested)
#: O-NO sentences of objects no subject has, which the reference leaves out of its corpus and
#: we write.
RANDOM_OR_DIFFERENT = {
    ("iid", "metadata/metadata.json"),
    ("simple_repeats", "metadata/metadata.json"),
    ("nested", "metadata/metadata.json"),
    ("nested_inverted", "metadata/metadata.json"),
}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", WORLDS)
def test_reference_world_comes_back_byte_identical(name: str, tmp_path: Path) -> None:
    src = FIXTURES / name
    world = import_reference(src, tmp_path / "w")
    assert world.config.vocab == "reference"
    export_reference(world, tmp_path / "ex")
    compared = 0
    for rel in _files(src):
        got = tmp_path / "ex" / rel
        assert got.is_file(), rel
        if (name, rel) in RANDOM_OR_DIFFERENT:
            a = json.loads((src / rel).read_text())
            b = json.loads(got.read_text())
            assert {k: v for k, v in a.items() if k != "total_num_tokens"} == {
                k: v for k, v in b.items() if k != "total_num_tokens"
            }
            continue
        assert got.read_bytes() == (src / rel).read_bytes(), rel
        compared += 1
    assert compared >= 5


@pytest.mark.parametrize("name", WORLDS)
def test_imported_probes_are_the_reference_token_sequences(name: str, tmp_path: Path) -> None:
    """Every line of the reference's validation files, tokenized with the exported (or the
    imported world's) tokenizer, is one of our probes: the same ids, answer included. Lines of
    files kept verbatim (simple repeats: one file per filler count) are no probes we score,
    but tokenize to statements of the graph's facts just as well: subject after ``SS``,
    relation after ``RR``, the graph's object last."""
    world = import_reference(FIXTURES / name, tmp_path / "w")
    tok = AutoTokenizer.from_pretrained(str(world.path))
    kept = set(world.meta["imported_from"]["kept_files"])
    ours = set()
    for p in world.probes.values():
        for i in range(len(p)):
            ours.add(tuple(p.prompt(i).tolist()) + (int(p.answer[i]),))
    v, g = world.vocab, world.graph
    S, R = g.objects.shape
    k = v.subject_tokens
    subjects = {tuple(row): s for s, row in enumerate(v.subject(np.arange(S)).tolist())}
    facts = 0
    n = 0
    for f in sorted((FIXTURES / name).glob("*/*.txt")):
        if f.parent.name not in ("validations", "questions"):
            continue
        for line in f.read_text().split("\n"):
            prompt, answer = line.split("\t")
            ids = tok(prompt + answer)["input_ids"]  # default settings: the leading EOT too
            assert ids[0] == EOT
            if f"{f.parent.name}/{f.name}" in kept:
                a, b = ids.index(SS) + 1, ids.index(RR) + 1
                s = subjects[tuple(ids[a : a + k])]
                r = next(r for r in range(R) if v.relation(r) == ids[b])
                assert ids[-1] == v.object(r, int(g.objects[s, r])), (f.name, line)
                facts += 1
                continue
            assert tuple(ids) in ours, (f.name, line)
            n += 1
    assert n > 0 or facts == 432 * S * R


def test_layout_matches_the_reference_remappings() -> None:
    for name in WORLDS:
        meta = FIXTURES / name / "metadata"
        args = json.loads((meta / "args.json").read_text())
        cfg = WorldConfig(
            subjects=args["subjects"],
            relations=args["relationships"],
            objects=args["objects"],
            nested_objects=args["num_nested_objects"],
            vocab="reference",
        )
        layout = Vocabulary.from_config(cfg).ref
        assert layout is not None
        remap = json.loads((meta / "remappings_map.json").read_text())
        ours = layout.remappings_map()
        for key in ours.keys() - {"special_vocab"}:
            assert remap[key] == ours[key], (name, key)
        grammar = json.loads((meta / "other_special_tokens.json").read_text())
        assert list(grammar.items()) == list(layout.other_special_tokens.items())
        assert json.loads((meta / "metadata.json").read_text())["vocab_size"] == layout.vocab_size


def test_two_token_subjects_follow_the_reference_split() -> None:
    v = Vocabulary.from_config(
        WorldConfig(subjects=1100, relations=2, objects=5, vocab="reference")
    )
    ids = v.subject(np.array([0, 21, 22, 1099]))
    # divisor 22 (= 33 - 1100 mod 33): 50 first tokens, then 22 second tokens
    np.testing.assert_array_equal(ids, [[85, 135], [85, 156], [86, 135], [134, 156]])
    assert v.subject_tokens == 2


def test_validation_lines_spell_four_digit_words(tmp_path: Path) -> None:
    world = import_reference(FIXTURES / "questions", tmp_path / "w")
    line = validation_lines(world.probes["question_new"], world.vocab.words)[0]
    prompt, answer = line.split("\t")
    assert prompt.startswith(" QQ ") and prompt.endswith(" AA") and answer.startswith(" OO ")
