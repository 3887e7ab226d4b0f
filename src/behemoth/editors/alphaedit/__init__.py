"""AlphaEdit: null-space constrained knowledge editing (Fang et al. 2025, ICLR; arXiv 2410.02355)."""

from behemoth.editors.alphaedit.config import AlphaEditConfig
from behemoth.editors.alphaedit.editor import AlphaEditEditor

__all__ = ["AlphaEditConfig", "AlphaEditEditor"]
