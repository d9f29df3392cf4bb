"""Neural-network layers built on structured matrices: ``KLinear`` (drop-in ``nn.Linear`` with
a K-matrix weight), ``replace_linear`` (model surgery) and ``param_groups`` (no weight decay on
structured twiddles)."""

from .klinear import KLinear
from .utils import param_groups, replace_linear

__all__ = ["KLinear", "param_groups", "replace_linear"]
