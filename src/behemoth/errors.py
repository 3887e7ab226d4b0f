"""Errors that the CLI turns into one clear line and exit code 2."""

from __future__ import annotations

from collections.abc import Iterable


class BehemothError(Exception):
    """A user-facing error: its message names the field and the fix."""


class ConfigError(BehemothError, ValueError):
    """An invalid configuration value or combination."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}; {fix}")


class OutputExistsError(BehemothError):
    """The output directory already holds something that must not be overwritten."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """The fix for an unknown name: "did you mean 'x'?" for a close match, else the choices."""
    import difflib  # here, not at the top: every command imports this module, few need it

    options = sorted(choices)
    hint = difflib.get_close_matches(name, options, n=1)
    return f"did you mean {hint[0]!r}?" if hint else f"choose one of {', '.join(options)}"
