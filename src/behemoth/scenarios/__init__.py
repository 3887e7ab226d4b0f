"""Edit scenarios: edit requests and their test sets, built from a world."""

from behemoth.scenarios.request import EditRequest

__all__ = ["EditRequest"]
