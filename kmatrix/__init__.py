"""kmatrix: structured matrices on PyTorch (survey: Rudra, "Arithmetic Circuits, Structured
Matrices and (not so) Deep Learning").

``kmatrix.<Family>`` are the structured families, ``kmatrix.transforms`` the exact K-matrix
constructions, ``kmatrix.circuits`` arithmetic circuits, ``kmatrix.theorems`` the
kaleidoscope theorems as constructions (benes, sparse_to_kmatrix, …), ``kmatrix.nn`` the layers."""

from . import circuits, learn, nn, project, theorems, transforms  # project: a callable package
from .core import AccuracyWarning, Product, Scaled, StructuredMatrix, Sum, load, merge, save
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
from .interop import aslinearoperator
from .project import ProjectionReport
from .theorems import (
    acdc,
    benes,
    circuit_to_kmatrix,
    circular_conv2d,
    fastfood,
    fft2d,
    haar,
    horizontal_step_to_butterfly,
    is_horizontal_step,
    kmatrix_product,
    kmatrix_sum,
    sparse_to_kmatrix,
)

__version__ = "0.1.0"

__all__ = [
    "LDR",
    "AccuracyWarning",
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
    "ProjectionReport",
    "RealPart",
    "Scaled",
    "Sparse",
    "SparsePlusLowRank",
    "SparseProduct",
    "StructuredMatrix",
    "Sum",
    "Toeplitz",
    "Vandermonde",
    "acdc",
    "aslinearoperator",
    "benes",
    "circuit_to_kmatrix",
    "circuits",
    "circular_conv2d",
    "fastfood",
    "fft2d",
    "haar",
    "horizontal_step_to_butterfly",
    "is_horizontal_step",
    "kmatrix_product",
    "kmatrix_sum",
    "learn",
    "load",
    "merge",
    "nn",
    "project",
    "save",
    "sparse_to_kmatrix",
    "theorems",
    "transforms",
]
