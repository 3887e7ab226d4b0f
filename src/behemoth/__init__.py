"""behemoth: a laboratory for knowledge editing and unlearning.

Pipeline (one subpackage per stage): ``world`` (facts, tokenizer, corpus, probes) ->
``model`` (Pythia-shaped GPT-NeoX, training) -> ``scenarios`` (edit requests) ->
``editors`` -> ``evaluation`` -> ``experiments``.
"""

from behemoth.errors import BehemothError, ConfigError

__version__ = "0.1.0"

__all__ = ["BehemothError", "ConfigError", "__version__"]
