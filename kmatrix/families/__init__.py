"""The structured families, one module each."""

from .butterfly import Butterfly
from .cauchy import Cauchy
from .dense import Dense
from .diagonal import Diagonal
from .fourier import Fourier
from .kaleidoscope import KMatrix
from .ldr import LDR
from .lowrank import LowRank
from .monarch import Monarch
from .permutation import Permutation
from .real_part import RealPart
from .sparse import Sparse
from .sparse_plus_lowrank import SparsePlusLowRank
from .sparse_product import SparseProduct
from .toeplitz import Circulant, Hankel, Toeplitz
from .vandermonde import Vandermonde

__all__ = ["LDR", "Butterfly", "Cauchy", "Circulant", "Dense", "Diagonal", "Fourier", "Hankel", "KMatrix", "LowRank", "Monarch", "Permutation", "RealPart", "Sparse", "SparsePlusLowRank", "SparseProduct", "Toeplitz", "Vandermonde"]
