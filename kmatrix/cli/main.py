"""Entry point of the ``kmatrix`` command.

Subcommands live in ``kmatrix/cli/commands/<name>.py``; each module defines
``register(subparsers)`` which adds its parser (with an ``epilog`` that is one example line,
``example: kmatrix ...``) and sets ``func`` (called with the parsed args). Adding a command
means adding a module; this file never changes for it.

This file is the command line's single error boundary and help formatter:

* every error ends the process with **one line on stderr** and a non-zero exit status, never a
  traceback: usage errors (argparse, status 2) print ``kmatrix CMD: error: ...`` without the
  usage block; errors raised by a command (bad values, unwritable files, …) print
  ``kmatrix: error: ...`` (status 1). ``KMATRIX_DEBUG=1`` re-raises them with the traceback;
* output piped into a program that stops reading (``kmatrix demo | head``) ends quietly
  (BrokenPipeError: stdout is pointed at /dev/null, status 0);
* help texts are plain text: the reStructuredText markup of docstrings reused as descriptions
  (````code````, ``:func:`name```) is removed — for every parser created while the command
  runs, including the benchmarks' own (``kmatrix bench NAME --help``), whose help ends with the
  example line ``example: kmatrix bench NAME`` unless the benchmark gives its own epilog;
* ``kmatrix --version`` prints the version.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import re
import sys

from . import commands

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """``code`` → code and :role:`name` → name (reStructuredText markup → plain text)."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


class PlainHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter with reStructuredText markup removed from every text it shows."""

    def _format_text(self, text):
        return super()._format_text(plain_text(text) if text else text)

    def _expand_help(self, action):
        return plain_text(super()._expand_help(action))


class _UsageError(Exception):
    """An argparse error, raised instead of printing usage and exiting (see ``_boundary``)."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


@contextlib.contextmanager
def _plain_parsers():
    """While the command runs, every ArgumentParser formats help with PlainHelpFormatter and
    reports errors as one line (via _UsageError) — also the parsers the benchmarks build."""
    cls = argparse.ArgumentParser
    saved = cls.__init__, cls.error

    def init(self, *args, **kwargs):
        if kwargs.get("formatter_class", argparse.HelpFormatter) is argparse.HelpFormatter:
            kwargs["formatter_class"] = PlainHelpFormatter
        prog = kwargs.get("prog") or ""
        if prog.startswith("kmatrix bench ") and not kwargs.get("epilog"):
            kwargs["epilog"] = f"example: {prog}"  # a benchmark's own parser: run it as shipped
        saved[0](self, *args, **kwargs)

    def error(self, message):
        raise _UsageError(self.prog, message)

    cls.__init__, cls.error = init, error
    try:
        yield
    finally:
        cls.__init__, cls.error = saved


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="kmatrix",
        description="Structured matrices on PyTorch: butterfly / kaleidoscope matrices, the "
        "classical structured families, and arithmetic circuits.",
        epilog="example: kmatrix demo --n 256",
        formatter_class=PlainHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kmatrix {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, (ValueError, TypeError, OSError)) else f"{type(exc).__name__}: {text}"


def _quiet_stdout() -> None:
    """After a broken pipe: send what is left of stdout to /dev/null (no second error at exit)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (the error boundary: module docstring)."""
    debug = os.environ.get("KMATRIX_DEBUG", "") not in ("", "0")
    try:
        with _plain_parsers():
            return _run(argv)
    except _UsageError as exc:
        print(f"{exc.prog}: error: {' '.join(str(exc).split())} (see {exc.prog} --help)", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:
        print("kmatrix: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            raise
        print(f"kmatrix: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
