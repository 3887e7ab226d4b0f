"""Relabel, the reference generator's own forgetting: the forgotten facts' answer is set to one
fixed real object of their relation (the next one for facts that already hold it),
L = -E_{D_f}[log pi_theta(o_fixed|x)] + lambda L_retain."""

from behemoth.editors.relabel.config import RelabelConfig
from behemoth.editors.relabel.editor import Relabel, RelabelTrainer

__all__ = ["Relabel", "RelabelConfig", "RelabelTrainer"]
