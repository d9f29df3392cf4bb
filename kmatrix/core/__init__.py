"""Core: the StructuredMatrix base class, compositions, validation and save/load."""

from .compose import Adjoint, Product, Scaled, Sum, Transposed, combine, merge, register_rule, scale
from .errors import AccuracyWarning
from .io import load, save
from .structured import FAMILIES, StructuredMatrix

__all__ = [
    "FAMILIES",
    "AccuracyWarning",
    "Adjoint",
    "Product",
    "Scaled",
    "StructuredMatrix",
    "Sum",
    "Transposed",
    "combine",
    "load",
    "merge",
    "register_rule",
    "save",
    "scale",
]
