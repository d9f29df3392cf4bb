"""Benchmarks shipped with the package (``kmatrix bench NAME`` runs ``kmatrix.bench.NAME.main``).

Every benchmark measures its baselines in the same run and reports medians of repeats."""
