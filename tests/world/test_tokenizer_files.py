"""The tokenizer files behemoth writes without transformers are the very bytes transformers'
``save_pretrained`` writes for the same tokenizer (models' copies and world.json's SHA-256 of
existing worlds depend on it), and they load back as a transformers tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from behemoth.world import Vocabulary, WorldConfig
from behemoth.world.presets import world_preset
from behemoth.world.tokenizer import MODEL_MAX_LENGTH, save_tokenizer, word_level
from behemoth.world.vocab import EOT, PAD, UNK

TINY = world_preset("tiny")
LAYOUTS = {
    "tiny": {},
    "nested": {"nested_objects": 4},
    "two-token": {"subjects": 100, "max_subject_words": 10},
    "reference": {"vocab": "reference", "subjects": 1100, "relations": 2, "objects": 5},
}


def written_by_transformers(vocab: Vocabulary, directory: Path) -> None:
    """How the files were written before: the bare tokenizer wrapped by transformers."""
    words = vocab.words
    fast = PreTrainedTokenizerFast(
        tokenizer_object=word_level(vocab),
        eos_token=words[EOT],
        bos_token=words[EOT],
        pad_token=words[PAD],
        unk_token=words[UNK],
        clean_up_tokenization_spaces=False,
    )
    fast.model_max_length = MODEL_MAX_LENGTH
    fast.save_pretrained(str(directory))


@pytest.mark.parametrize("over", LAYOUTS.values(), ids=list(LAYOUTS))
def test_files_are_byte_identical_to_transformers(over: dict[str, object], tmp_path: Path) -> None:
    vocab = Vocabulary.from_config(WorldConfig.from_dict({**TINY, **over}))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    save_tokenizer(vocab, ours)
    written_by_transformers(vocab, theirs)
    names = sorted(p.name for p in theirs.iterdir())
    assert sorted(p.name for p in ours.iterdir()) == names
    assert "tokenizer.json" in names and "tokenizer_config.json" in names
    for name in names:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def test_written_files_load_as_the_same_transformers_tokenizer(tmp_path: Path) -> None:
    vocab = Vocabulary.from_config(WorldConfig.from_dict(TINY))
    save_tokenizer(vocab, tmp_path)
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    words = vocab.words
    assert (tok.bos_token, tok.eos_token) == (words[EOT], words[EOT])
    assert (tok.pad_token, tok.unk_token) == (words[PAD], words[UNK])
    assert tok.model_max_length == MODEL_MAX_LENGTH
    text = " ".join(words[10:14]) + "."
    assert tok(text)["input_ids"][0] == EOT
    assert tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"]) == [
        *words[10:14],
        ".",
    ]
