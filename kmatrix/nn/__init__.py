"""Neural-network layers built on structured matrices: ``SingleLayer`` (the survey's
y = g(W_θ x), Definition 2.1), ``StructuredLinear`` (drop-in ``nn.Linear`` for every learnable
family, chosen by name and optionally by a parameter budget), ``KLinear`` (its K-matrix case),
``replace_linear`` (model surgery), ``summary``, ``param_groups`` (no weight decay on
structured twiddles) and ``compress`` (project a trained model's linear layers onto a
structured family, :func:`kmatrix.project`)."""

from .compress import LayerReport, ProjectedLinear, compress, finetune
from .klinear import KLinear
from .registry import FAMILIES, FamilySpec, get_family, register_family, solve_budget
from .replace import replace_linear
from .single_layer import ACTIVATIONS, SingleLayer
from .structured_linear import StructuredLinear
from .summary import Summary, summary
from .utils import param_groups

__all__ = [
    "ACTIVATIONS",
    "FAMILIES",
    "FamilySpec",
    "KLinear",
    "LayerReport",
    "ProjectedLinear",
    "SingleLayer",
    "StructuredLinear",
    "Summary",
    "compress",
    "finetune",
    "get_family",
    "param_groups",
    "register_family",
    "replace_linear",
    "solve_budget",
    "summary",
]
