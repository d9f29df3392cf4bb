"""Learning W_θ from samples (survey §2–3: Definition 2.1, Definition 3.2, Algorithm 1;
Question 2.3 made measurable).

* ``fit``: trains a model (``kmatrix.nn.SingleLayer`` or any structured matrix) by gradient
  descent (Algorithm 1), Adam or L-BFGS; ``error_gradient`` is the gradient it descends.
* ``TARGETS`` / ``make_target``: transforms and controls to learn (dft, dct, hadamard, ...).
* ``FAMILIES`` (the registry ``kmatrix.nn.FAMILIES`` itself) / ``make_family``: the learnable
  families at a parameter budget.
* ``recover``: learn a target with a family from samples, with random restarts.
* ``atlas``: the best error of every family on every target at matched budgets.
"""

from .families import FAMILIES, Family, family_names, make_family, unitary_twiddles
from .fit import OPTIMIZERS, SCHEDULES, FitDivergedWarning, History, error_gradient, fit
from .recover import Recovery, recover
from .targets import TARGETS, Target, make_target, target_names

__all__ = [
    "FAMILIES",
    "OPTIMIZERS",
    "SCHEDULES",
    "TARGETS",
    "Family",
    "FitDivergedWarning",
    "History",
    "Recovery",
    "Target",
    "error_gradient",
    "family_names",
    "fit",
    "make_family",
    "make_target",
    "recover",
    "target_names",
    "unitary_twiddles",
]
