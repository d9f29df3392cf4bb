"""Optional dependencies, imported on demand with an install hint when missing."""

from __future__ import annotations


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (the ``plot`` extra)."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "matplotlib is needed to draw figures: pip install 'kmatrix[plot]'"
        ) from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def sklearn_datasets():
    """sklearn.datasets (the ``bench`` extra: scikit-learn ships the digits data set)."""
    try:
        import sklearn.datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "scikit-learn is needed for the digits data set: pip install 'kmatrix[bench]'"
        ) from exc
    return sklearn.datasets
