"""behemoth: a laboratory for knowledge editing and unlearning.

Pipeline (one subpackage per stage): ``world`` (facts, tokenizer, corpus, probes) ->
``model`` (Pythia-shaped GPT-NeoX, training) -> ``scenarios`` (edit requests) ->
``editors`` -> ``evaluation`` -> ``experiments``.

``behemoth.edit(model, prompt=..., target=..., editor="rome", **settings)`` edits one fact
named in the world's words (:mod:`behemoth.api`); it is loaded on first use, so that
``import behemoth`` stays light (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from behemoth.errors import BehemothError, ConfigError

if TYPE_CHECKING:
    from behemoth.api import edit

__version__ = "0.1.0"

__all__ = ["BehemothError", "ConfigError", "__version__", "edit"]


def __getattr__(name: str) -> Any:
    if name == "edit":
        from behemoth.api import edit

        return edit
    raise AttributeError(f"module 'behemoth' has no attribute {name!r}")
