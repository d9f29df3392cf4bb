"""The structured families, one module each."""

from .dense import Dense
from .diagonal import Diagonal
from .fourier import Fourier
from .lowrank import LowRank
from .permutation import Permutation
from .sparse import Sparse
from .sparse_plus_lowrank import SparsePlusLowRank
from .sparse_product import SparseProduct
from .toeplitz import Circulant, Hankel, Toeplitz

__all__ = ["Circulant", "Dense", "Diagonal", "Fourier", "Hankel", "LowRank", "Permutation", "Sparse", "SparsePlusLowRank", "SparseProduct", "Toeplitz"]
