"""ROME: Rank-One Model Editing (Meng et al. 2022, "Locating and Editing Factual Associations"""

from behemoth.editors.rome.config import RomeConfig
from behemoth.editors.rome.editor import RomeEditor

__all__ = ["RomeConfig", "RomeEditor"]
