"""One registry type for everything looked up by name: templates, scenarios, editors, metrics.

    EDITORS: Registry[type[Editor]] = Registry("editor", field="--editor")
    EDITORS.add("rome", RomeEditor)        # a second "rome" is refused
    EDITORS.get("memitt")                  # UnknownNameError: ... did you mean 'memit'?

A registry reads like a read-only mapping (``name in r``, ``r[name]``, ``r.values()``), so tests
iterate it: whatever registers itself is tested without touching the tests. An optional
``loader`` runs once before the first lookup (plugin discovery, built-in registrations), so a
registry is complete whenever it is read and nobody keeps an import list by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from behemoth.errors import ConfigError, suggest

T = TypeVar("T")


class UnknownNameError(ConfigError, KeyError):
    """A name no registry entry has; the message suggests the closest one."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(ValueError):
    """A second entry under a name already taken (a programming error, not user input)."""


class Registry(Mapping[str, T], Generic[T]):
    """Entries by name: duplicates refused, unknown names answered with "did you mean"."""

    def __init__(
        self, kind: str, *, field: str | None = None, loader: Callable[[], None] | None = None
    ) -> None:
        self.kind = kind
        self.field = field or kind
        self._entries: dict[str, T] = {}
        self._loader = loader
        self._loaded = loader is None

    # -- registration -----------------------------------------------------------------------
    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name``; the same object twice is a no-op (re-import)."""
        if name in self._entries and self._entries[name] is not entry:
            raise DuplicateNameError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    # -- lookup -------------------------------------------------------------------------------
    def get_entry(self, name: str) -> T:
        """The entry ``name``, or an :class:`UnknownNameError` suggesting the closest name."""
        entries = self._all()
        if name not in entries:
            raise UnknownNameError(
                self.field, f"unknown {self.kind} {name!r}", suggest(name, entries)
            )
        return entries[name]

    def names(self) -> list[str]:
        return sorted(self._all())

    def __getitem__(self, name: str) -> T:
        return self.get_entry(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._all()))

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def _all(self) -> dict[str, T]:
        if not self._loaded:
            self._loaded = True  # set first: the loader registers through add()
            assert self._loader is not None
            self._loader()
        return self._entries
