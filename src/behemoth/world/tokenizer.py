"""The world's tokenizer as a Hugging Face fast tokenizer: one word, one token, exactly.

A word-level model (no merges to go wrong) over whitespace-separated words, with "." split off
so that the reference's ``"...0123.<|endoftext|>"`` spelling tokenizes too. Written in Hugging
Face's format, so ``AutoTokenizer.from_pretrained(world_dir)`` loads it without behemoth.

Every training sentence follows an end-of-text token and every probe starts with one, so the
tokenizer adds it as the beginning-of-sequence token (a post-processor): with default settings,
``tokenizer(prompt_text)["input_ids"]`` are the very ids the model was trained and probed on.
``add_special_tokens=False`` gives the bare words.

The files are written with the ``tokenizers`` library and :mod:`json` alone, so that writing a
world never imports transformers (it costs ``behemoth generate`` about a second). They are the
very bytes ``PreTrainedTokenizerFast(...).save_pretrained`` writes (transformers 5), which
tests/world/test_tokenizer_files.py checks: models copy the world's tokenizer and are checked
against it byte for byte, and world.json records the files' SHA-256, so existing worlds stay valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors

from behemoth.world.vocab import EOT, PAD, UNK, Vocabulary

#: Longest input the tokenizer accepts without a warning: no world sentence comes near it.
MODEL_MAX_LENGTH = 1 << 20


def word_level(vocab: Vocabulary) -> Tokenizer:
    """The bare tokenizer: word-level model, pre-tokenizer and the end-of-text post-processor
    (special tokens not yet declared; :func:`backend` declares them)."""
    words = vocab.words
    eot, unk = words[EOT], words[UNK]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(".", behavior="isolated")]
    )
    tok.post_processor = processors.TemplateProcessing(
        single=f"{eot} $A", pair=f"{eot} $A {eot} $B", special_tokens=[(eot, EOT)]
    )
    return tok


def backend(vocab: Vocabulary) -> Tokenizer:
    """:func:`word_level` with its special tokens declared (never split, never normalized, skipped
    when decoding), in the order transformers declares them: bos/eos, unk, pad."""
    words = vocab.words
    tok = word_level(vocab)
    specials = (words[EOT], words[UNK], words[PAD])
    tok.add_special_tokens([AddedToken(w, special=True, normalized=False) for w in specials])
    return tok


def tokenizer_config(vocab: Vocabulary) -> dict[str, Any]:
    """``tokenizer_config.json``: which special token is which, for transformers' loader."""
    words = vocab.words
    return {
        "backend": "tokenizers",
        "bos_token": words[EOT],
        "clean_up_tokenization_spaces": False,
        "eos_token": words[EOT],
        "model_max_length": MODEL_MAX_LENGTH,
        "pad_token": words[PAD],
        "tokenizer_class": "TokenizersBackend",
        "unk_token": words[UNK],
    }


def save_tokenizer(vocab: Vocabulary, directory: str | Path) -> None:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` into ``directory`` (created)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Formatting as transformers writes it: indent 2, keys sorted, UTF-8, final newline.
    text = json.dumps(tokenizer_config(vocab), indent=2, sort_keys=True, ensure_ascii=False)
    (directory / "tokenizer_config.json").write_text(text + "\n", encoding="utf-8")
    backend(vocab).save(str(directory / "tokenizer.json"))
