"""The world's tokenizer as a Hugging Face fast tokenizer: one word, one token, exactly.

A word-level model (no merges to go wrong) over whitespace-separated words, with "." split off
so that the reference's ``"...0123.<|endoftext|>"`` spelling tokenizes too. Saved with
``save_pretrained`` so ``AutoTokenizer.from_pretrained(world_dir)`` loads it without behemoth.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer, models, pre_tokenizers

from behemoth.world.vocab import FIXED_WORDS, Vocabulary

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast


def build_tokenizer(vocab: Vocabulary) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast  # loaded when a tokenizer is built

    words = vocab.words
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(".", behavior="isolated")]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=FIXED_WORDS[0],
        bos_token=FIXED_WORDS[0],
        pad_token=FIXED_WORDS[1],
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
    )
    fast.model_max_length = 1 << 20
    return fast


def save_tokenizer(vocab: Vocabulary, directory: str | Path) -> None:
    build_tokenizer(vocab).save_pretrained(str(directory))
