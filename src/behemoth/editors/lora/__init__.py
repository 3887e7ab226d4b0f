"""LoRA editing through PEFT (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language"""

from behemoth.editors.lora.config import LoraEditConfig
from behemoth.editors.lora.editor import LoraEditor

__all__ = ["LoraEditConfig", "LoraEditor"]
