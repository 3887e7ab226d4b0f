"""MEMIT: Mass-Editing Memory in a Transformer (Meng et al. 2023, ICLR; arXiv 2210.07229)."""

from behemoth.editors.memit.config import MemitConfig
from behemoth.editors.memit.editor import MemitEditor

__all__ = ["MemitConfig", "MemitEditor"]
