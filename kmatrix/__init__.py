"""kmatrix: structured matrices on PyTorch (survey: Rudra, "Arithmetic Circuits, Structured
Matrices and (not so) Deep Learning")."""

from . import circuits, nn, transforms  # noqa: F401  (kmatrix.circuits, kmatrix.nn.KLinear, kmatrix.transforms.dft)
from .core import Product, Scaled, StructuredMatrix, Sum, load, save
from .families import *  # noqa: F401,F403
from .families import __all__ as _families_all

__version__ = "0.1.0"

__all__ = ["StructuredMatrix", "Sum", "Product", "Scaled", "save", "load", *_families_all]
