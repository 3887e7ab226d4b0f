"""Unlearning methods: losses on one shared gradient loop (``trainer``), registered as editors."""

from behemoth.editors.unlearning import methods  # noqa: F401  (registration)
