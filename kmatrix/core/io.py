"""Self-describing save / load of structured matrices.

File format (``torch.save`` of a dict, loadable with ``weights_only=True``)::

    {"format": "kmatrix", "version": 1, "matrix": <node>}
    <node> = {"family": class name, "kwargs": {name: <value>}, "state": state_dict}
    <value> = tensor | number | str | bool | None | list/tuple of <value> | <node>

``kwargs`` are the family's constructor arguments (``_config()``); nested structured matrices
(a Product's factors, a Sum's terms) are nodes themselves. ``load`` rebuilds each node with its
constructor, then loads its state_dict, so learned parameters and buffers come back exactly.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .structured import FAMILIES, StructuredMatrix

__all__ = ["FORMAT_VERSION", "load", "save"]

FORMAT_VERSION = 1


def _encode(value: Any) -> Any:
    if isinstance(value, StructuredMatrix):
        return {
            "__kmatrix_node__": True,
            "family": type(value).__name__,
            "kwargs": {k: _encode(v) for k, v in value._config().items()},
            "state": value.state_dict(),
        }
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_encode(v) for v in value)
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).replace("torch.", "")}
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return value
    raise TypeError(f"cannot serialise constructor argument of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and value.get("__kmatrix_node__"):
        name = value["family"]
        if name not in FAMILIES:
            raise ValueError(f"path: unknown structured-matrix family {name!r} in file")
        cls = FAMILIES[name]
        kwargs = {k: _decode(v) for k, v in value["kwargs"].items()}
        obj = cls(**kwargs)
        obj.load_state_dict(value["state"])
        return obj
    if isinstance(value, dict) and "__dtype__" in value:
        return getattr(torch, value["__dtype__"])
    if isinstance(value, (list, tuple)):
        return type(value)(_decode(v) for v in value)
    return value


def save(matrix: StructuredMatrix, path: str | os.PathLike) -> None:
    """Write ``matrix`` (config + tensors) to ``path``; ``load(path)`` rebuilds it."""
    if not isinstance(matrix, StructuredMatrix):
        raise TypeError(f"matrix: expected a StructuredMatrix, got {type(matrix).__name__}")
    torch.save({"format": "kmatrix", "version": FORMAT_VERSION, "matrix": _encode(matrix)}, path)


def load(path: str | os.PathLike, map_location=None) -> StructuredMatrix:
    """Read a matrix written by ``save``."""
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "kmatrix":
        raise ValueError(f"path: {path} is not a kmatrix file")
    if blob.get("version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"path: file format version {blob['version']} is newer than this kmatrix "
            f"(supports up to {FORMAT_VERSION})"
        )
    return _decode(blob["matrix"])
