"""Warning classes of kmatrix (one place, so that users can filter them by class).

``AccuracyWarning``: a result was computed but is expected to be inaccurate — e.g. the fast
(subproduct-tree) product of a Vandermonde or Cauchy matrix forced with ``method="fast"`` on
nodes whose growth indicator says that the tree's coefficients blow up. Turn it into an error
with ``warnings.simplefilter("error", kmatrix.AccuracyWarning)``.
"""

from __future__ import annotations

__all__ = ["AccuracyWarning"]


class AccuracyWarning(UserWarning):
    """A computed result is expected to have lost most of its accuracy (see the message).

    Examples
    --------
    >>> import warnings, torch, kmatrix
    >>> V = kmatrix.Vandermonde(torch.linspace(-1, 1, 256, dtype=torch.float64), 256, method="fast")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     y = V(torch.ones(256, dtype=torch.float64))
    >>> [w.category.__name__ for w in caught]
    ['AccuracyWarning']
    """
