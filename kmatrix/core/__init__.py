"""Core: the StructuredMatrix base class, compositions, validation and save/load."""

from .compose import Adjoint, Product, Scaled, Sum, Transposed, combine, register_rule, scale
from .io import load, save
from .structured import FAMILIES, StructuredMatrix

__all__ = [
    "StructuredMatrix",
    "FAMILIES",
    "Transposed",
    "Adjoint",
    "Sum",
    "Product",
    "Scaled",
    "register_rule",
    "combine",
    "scale",
    "save",
    "load",
]
