"""One module per ``kmatrix`` subcommand, each with ``register(subparsers)``."""
