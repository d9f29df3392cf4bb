"""When the fast (subproduct-tree) products of Vandermonde and Cauchy matrices are meaningless.

Both fast paths work with monomial coefficients of subtree products Π(z − a_i); their growth
indicator G (``_polynomial.SubproductTree.growth``, ``CauchyPlan.growth``) bounds how much one
step of the tree can amplify rounding errors. G is an indicator, not an error bound: the error
is not a function of G, but in the measurements below large errors occurred only with large G.

Measured with ``kmatrix bench fast_growth`` (default seed; float64/complex128, 120 random
node sets — 60 per family — with n = 9 … 1442 and five kinds of nodes; error ‖ŷ − y‖ / ‖|W||x|‖
of the fast product against the direct O(mn) one):

* the 36 sets with G ≤ 1e6 had errors ≤ 2.6e-11;
* of the 84 sets above 1e6, errors ≥ 1e-3 began at G = 5.7e8 (7.9e-3, Cauchy), errors ≥ 0.5
  at G = 3.7e10, overflow (inf / nan) at G ≥ 1.4e122; but sets with G far above 1e6 also gave
  errors as small as 1.4e-13 — G over-estimates, so the warning means "may be", not "is".
  (An earlier run with other draws: G ≤ 1e6 → ≤ 3.3e-10; 8.7e-6 at G = 1.2e7.)

``FAST_WARN_GROWTH = 1e6`` is therefore the line above which ``method="fast"`` warns with
:class:`kmatrix.AccuracyWarning` (tests/test_fast_accuracy.py re-checks the
no-warning side on fresh random node sets and that the measured meaningless cases warn).
"""

from __future__ import annotations

import os
import sys
import warnings

import torch

from ..core.errors import AccuracyWarning

__all__ = ["FAST_WARN_GROWTH", "warn_if_inaccurate"]

#: ``method="fast"`` warns when the growth indicator exceeds this (module docstring)
FAST_WARN_GROWTH = 1e6


_INTERNAL = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # the kmatrix package
    os.path.dirname(os.path.abspath(torch.__file__)),  # nn.Module.__call__ and friends
)


def _caller_stacklevel() -> int:
    """The stacklevel (for a warning issued by the caller of this function's caller) of the
    first frame outside kmatrix and torch: the warning points at the user's line."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_inaccurate(family: str, growth: float) -> None:
    """Warn with AccuracyWarning when ``growth`` > ``FAST_WARN_GROWTH``."""
    if growth > FAST_WARN_GROWTH:
        warnings.warn(
            f"{family}(method='fast'): growth indicator G = {growth:.1e} > {FAST_WARN_GROWTH:.0e} "
            "for these nodes; the subproduct-tree product may have lost most or all of its digits "
            "(measured errors up to 100% and overflow above this line). Use method='direct' "
            "(the default 'auto' does) for an O(mn) product accurate to ~1e-16.",
            AccuracyWarning,
            stacklevel=_caller_stacklevel(),
        )
