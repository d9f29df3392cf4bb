"""Atomic file writes: every file kmatrix writes (saved matrices, CSV tables, PNG plots, the
compiled kernel's cache) goes through :func:`atomic_writer`.

A write goes to a fresh temporary file in the destination's folder (created exclusively, mode
0666 minus the umask, as ``open`` would give), is flushed and fsynced, then ``os.replace``\\ d
onto the destination, and the folder is fsynced (best effort) so that the rename survives a
crash. A failure at any point removes the temporary file and leaves the destination as it was:
a reader sees the old file or the complete new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_savefig", "atomic_write", "atomic_writer"]


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not permitted on some platforms: best effort
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb", *, mkdir: bool = False,
                  **open_kwargs: Any) -> Iterator[IO]:  # fmt: skip
    """Open a temporary file beside ``path`` for writing (``mode`` "wb" or "w"; ``open_kwargs``
    such as ``newline=""`` go to ``os.fdopen``); on a normal exit of the ``with`` block it
    replaces ``path``, on an exception it is removed and ``path`` is untouched. ``mkdir``:
    create the destination's folder first."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    if not isinstance(path, (str, os.PathLike)):
        kind = type(path).__name__
        raise TypeError(f"path: expected a file path (str or os.PathLike), got {kind}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if mkdir:
        os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
    except OSError as exc:  # name the destination, not the temporary file
        raise type(exc)(exc.errno, exc.strerror, path) from None
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mkdir: bool = False) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically (see the module).

    Examples
    --------
    >>> import os, tempfile
    >>> from kmatrix.core.files import atomic_write, atomic_writer
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> atomic_write(path, "first")
    >>> try:
    ...     with atomic_writer(path, "w") as f:
    ...         _ = f.write("half of a second version")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> open(path).read()  # the interrupted write left the file as it was
    'first'
    """
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes or str, got {type(data).__name__}")
    with atomic_writer(path, "wb", mkdir=mkdir) as f:
        f.write(data)


def atomic_savefig(fig: Any, path: str | os.PathLike, *, mkdir: bool = False,
                   **savefig_kwargs: Any) -> Path:  # fmt: skip
    """``fig.savefig`` (a matplotlib figure) to ``path`` atomically (``mkdir``: create its
    folder first); the format follows the file's extension unless ``format=`` is given.
    Returns the path."""
    path = Path(path)
    fmt = savefig_kwargs.pop("format", None) or (path.suffix[1:].lower() or "png")
    with atomic_writer(path, "wb", mkdir=mkdir) as f:
        fig.savefig(f, format=fmt, **savefig_kwargs)
    return path
