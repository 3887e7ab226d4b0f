"""GRACE (Hartvigsen et al. 2023): a codebook adaptor around one layer of an untouched model."""

from behemoth.editors.grace.codebook import Codebook, Decision
from behemoth.editors.grace.config import GraceConfig
from behemoth.editors.grace.editor import GraceEditor
from behemoth.editors.grace.model import GraceModel

__all__ = ["Codebook", "Decision", "GraceConfig", "GraceEditor", "GraceModel"]
