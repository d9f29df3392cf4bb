"""Arithmetic circuits (survey §2.5, §3, §4.6): straight-line programs over a field,
Baur–Strassen back-propagation, the transposition principle and circuits → products of sparse
matrices."""

from .circuit import Circuit, Gate, Wire
from .evaluate import evaluate, to_dense
from .fields import FRACTION, GF, FractionField, is_prime
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

__all__ = [
    "FRACTION",
    "GF",
    "LIBRARY",
    "Circuit",
    "FractionField",
    "Gate",
    "Wire",
    "balanced_sum",
    "evaluate",
    "fft",
    "from_matrix",
    "hadamard",
    "horner",
    "is_prime",
    "polynomial_multiply",
    "prefix_sums",
    "to_dense",
    "toeplitz",
]
