"""Entry point of the ``kmatrix`` command.

Subcommands live in ``kmatrix/cli/commands/<name>.py``; each module defines
``register(subparsers)`` which adds its parser and sets ``func`` (called with the parsed args).
Adding a command means adding a module; this file never changes.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmatrix",
        description="Structured matrices on PyTorch: butterfly / kaleidoscope matrices, the "
        "classical structured families, and arithmetic circuits.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
