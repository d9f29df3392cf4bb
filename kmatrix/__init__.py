"""kmatrix: structured matrices on PyTorch (survey: Rudra, "Arithmetic Circuits, Structured
Matrices and (not so) Deep Learning").

``kmatrix.<Family>`` are the structured families, ``kmatrix.transforms`` the exact K-matrix
constructions, ``kmatrix.circuits`` arithmetic circuits, ``kmatrix.nn`` the layers."""

from . import circuits, nn, transforms
from .core import Product, Scaled, StructuredMatrix, Sum, load, save
from .families import (
    LDR,
    Butterfly,
    Cauchy,
    Circulant,
    Dense,
    Diagonal,
    Fourier,
    Hankel,
    KMatrix,
    LowRank,
    Monarch,
    Permutation,
    RealPart,
    Sparse,
    SparsePlusLowRank,
    SparseProduct,
    Toeplitz,
    Vandermonde,
)

__version__ = "0.1.0"

__all__ = [
    "LDR",
    "Butterfly",
    "Cauchy",
    "Circulant",
    "Dense",
    "Diagonal",
    "Fourier",
    "Hankel",
    "KMatrix",
    "LowRank",
    "Monarch",
    "Permutation",
    "Product",
    "RealPart",
    "Scaled",
    "Sparse",
    "SparsePlusLowRank",
    "SparseProduct",
    "StructuredMatrix",
    "Sum",
    "Toeplitz",
    "Vandermonde",
    "circuits",
    "load",
    "nn",
    "save",
    "transforms",
]
