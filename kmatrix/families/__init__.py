"""The structured families, one module each."""

from .dense import Dense
from .diagonal import Diagonal
from .permutation import Permutation
from .sparse import Sparse
from .sparse_product import SparseProduct
from .toeplitz import Circulant, Hankel, Toeplitz

__all__ = ["Circulant", "Dense", "Diagonal", "Hankel", "Permutation", "Sparse", "SparseProduct", "Toeplitz"]
