"""Arithmetic circuits (survey §2.5, §3, §4.6): straight-line programs over a field,
Baur–Strassen back-propagation, the transposition principle and circuits → products of sparse
matrices and back, and Theorem 2.9 (linearizing a circuit with products and quotients)."""

from .circuit import Circuit, Gate, Wire
from .draw import draw
from .evaluate import evaluate, to_dense
from .fields import FRACTION, GF, FractionField, is_prime
from .from_sparse import from_sparse_factors
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
from .linearize import fix_inputs, linearize
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
    "fix_inputs",
    "from_matrix",
    "from_sparse_factors",
    "gradient",
    "gradient_circuit",
    "hadamard",
    "horner",
    "is_prime",
    "linearize",
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
