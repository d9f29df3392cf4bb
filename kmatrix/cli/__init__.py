"""The ``kmatrix`` command line."""
