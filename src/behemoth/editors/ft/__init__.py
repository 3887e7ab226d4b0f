"""Fine-tuning (FT) and constrained fine-tuning (FT-C) as editors."""

from behemoth.editors.ft.config import FtConfig
from behemoth.editors.ft.editor import FtEditor

__all__ = ["FtConfig", "FtEditor"]
