"""The structured families, one module each."""

from .dense import Dense
from .diagonal import Diagonal
from .permutation import Permutation

__all__ = ["Dense", "Diagonal", "Permutation"]
