"""RMU (Li et al. 2024, "The WMDP Benchmark", Sec. 5.2, Eq. 1-2): at layer l, push the
activations of forget prompts toward a fixed random direction scaled by the steering coefficient,
L_forget = E_{D_f} mean_t ||h_theta(x)_t - c u||^2, and keep those of retain prompts where the
frozen model puts them, L_retain = E_{D_r} mean_t ||h_theta(x)_t - h_ref(x)_t||^2;
L = L_forget + alpha L_retain (``alpha`` is ``retain_weight``); u ~ U[0, 1)^d normalized, as in
the paper's code."""

from behemoth.editors.rmu.config import RmuConfig
from behemoth.editors.rmu.editor import Rmu, RmuTrainer

__all__ = ["Rmu", "RmuConfig", "RmuTrainer"]
