"""The shared test battery (like linear_operator's inherited tests), shipped in the package so
third-party families can run it: a zoo entry says how to build a matrix and how to compute its
dense reference independently; ``kmatrix.testing.battery`` checks every contract on it."""

from .battery import TOLERANCES, ZooEntry, normwise_error, tolerance
from .serialisation import check_save_load
from .zoo import ZOO, zoo_ids

__all__ = ["TOLERANCES", "ZOO", "ZooEntry", "check_save_load", "normwise_error", "tolerance", "zoo_ids"]
