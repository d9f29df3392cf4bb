"""The shared test battery (like linear_operator's inherited tests), shipped in the package so
third-party families can run it: a zoo entry says how to build a matrix and how to compute its
dense reference independently; the contracts (:mod:`kmatrix.testing.contracts`, plain functions,
no pytest needed) check every promise on it. ``check_family(make, reference)`` runs them all on
a user's own family; the project's tests run the same functions over ``ZOO``."""

from .battery import TOLERANCES, ZooEntry, normwise_error, random_tensor, tolerance
from .contracts import CHECKS, check_family, check_rule, run_checks
from .rules import RULE_EXAMPLES, missing_rule_examples
from .serialisation import check_save_load
from .zoo import ZOO, zoo_ids

__all__ = [
    "CHECKS",
    "RULE_EXAMPLES",
    "TOLERANCES",
    "ZOO",
    "ZooEntry",
    "check_family",
    "check_rule",
    "check_save_load",
    "missing_rule_examples",
    "normwise_error",
    "random_tensor",
    "run_checks",
    "tolerance",
    "zoo_ids",
]
