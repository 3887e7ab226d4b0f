"""The world's tokenizer as a Hugging Face fast tokenizer: one word, one token, exactly.

A word-level model (no merges to go wrong) over whitespace-separated words, with "." split off
so that the reference's ``"...0123.<|endoftext|>"`` spelling tokenizes too. Saved with
``save_pretrained`` so ``AutoTokenizer.from_pretrained(world_dir)`` loads it without behemoth.

Every training sentence follows an end-of-text token and every probe starts with one, so the
tokenizer adds it as the beginning-of-sequence token (a post-processor): with default settings,
``tokenizer(prompt_text)["input_ids"]`` are the very ids the model was trained and probed on.
``add_special_tokens=False`` gives the bare words.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer, models, pre_tokenizers, processors

from behemoth.world.vocab import EOT, PAD, UNK, Vocabulary

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast


def build_tokenizer(vocab: Vocabulary) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast  # loaded when a tokenizer is built

    words = vocab.words
    eot, pad, unk = words[EOT], words[PAD], words[UNK]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(".", behavior="isolated")]
    )
    tok.post_processor = processors.TemplateProcessing(
        single=f"{eot} $A", pair=f"{eot} $A {eot} $B", special_tokens=[(eot, EOT)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eot,
        bos_token=eot,
        pad_token=pad,
        unk_token=unk,
        clean_up_tokenization_spaces=False,
    )
    fast.model_max_length = 1 << 20
    return fast


def save_tokenizer(vocab: Vocabulary, directory: str | Path) -> None:
    build_tokenizer(vocab).save_pretrained(str(directory))
