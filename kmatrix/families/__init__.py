"""The structured families, one module each."""

from .dense import Dense
from .diagonal import Diagonal
from .permutation import Permutation
from .sparse import Sparse
from .sparse_product import SparseProduct

__all__ = ["Dense", "Diagonal", "Permutation", "Sparse", "SparseProduct"]
