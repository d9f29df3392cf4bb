"""Arithmetic circuits (survey §2.5, §3, §4.6): straight-line programs over a field,
Baur–Strassen back-propagation, the transposition principle and circuits → products of sparse
matrices."""

from .circuit import Circuit, Gate, Wire
from .draw import draw
from .evaluate import evaluate, to_dense
from .fields import FRACTION, GF, FractionField, is_prime
from .gradient import gradient, gradient_circuit, loss_gradient
from .library import (
    LIBRARY,
    balanced_sum,
    fft,
    from_matrix,
    hadamard,
    horner,
    polynomial_multiply,
    prefix_sums,
    toeplitz,
)
from .sparse_factors import sparse_factor_triplets, to_sparse_factors
from .transpose import transpose, transpose_baur_strassen, transpose_reverse

__all__ = [
    "FRACTION",
    "GF",
    "LIBRARY",
    "Circuit",
    "FractionField",
    "Gate",
    "Wire",
    "balanced_sum",
    "draw",
    "evaluate",
    "fft",
    "from_matrix",
    "gradient",
    "gradient_circuit",
    "hadamard",
    "horner",
    "is_prime",
    "loss_gradient",
    "polynomial_multiply",
    "prefix_sums",
    "sparse_factor_triplets",
    "to_dense",
    "to_sparse_factors",
    "toeplitz",
    "transpose",
    "transpose_baur_strassen",
    "transpose_reverse",
]
