"""SERAC (Mitchell et al. 2022): an edit memory, a scope classifier and a counterfactual model
next to an untouched base model; the networks are trained from scratch on the world."""

from behemoth.editors.serac.artifact import SeracNets
from behemoth.editors.serac.config import SeracConfig, SeracNetsConfig
from behemoth.editors.serac.editor import SeracEditor
from behemoth.editors.serac.model import SeracModel
from behemoth.editors.serac.train import check_disjoint, scenario_training_facts, train_nets

__all__ = [
    "SeracConfig",
    "SeracEditor",
    "SeracModel",
    "SeracNets",
    "SeracNetsConfig",
    "check_disjoint",
    "scenario_training_facts",
    "train_nets",
]
