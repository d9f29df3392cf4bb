"""Self-describing, validated save / load of structured matrices.

File format (``torch.save`` of plain containers and tensors, read back with
``torch.load(weights_only=True)``: no pickled code)::

    {"format": "kmatrix", "version": 2,
     "tensors": [tensor, ...],             # every stored tensor once
     "nodes":   [node, ...],               # children before their parents
     "root":    index into nodes}
    node  = {"family": "<module>.<qualname>", "kwargs": {name: value}, "state": {name: entry}}
    entry = {"tensor": index, "kind": "parameter" | "buffer", "requires_grad": bool}
    value = None | bool | int | float | complex | str | list/tuple of values
          | {"node": index} | {"tensor": index} | {"dtype": name}

``kwargs`` are a node's constructor arguments (``_config()``); ``state`` lists the parameters and
persistent buffers the node owns itself (those of nested structured matrices belong to their own
nodes). A module reached twice (``A + A.T``, ``B @ B``) is one node referenced twice, and a tensor
owned by two modules (``Sparse.T`` shares ``values``) is one table entry: ``load`` restores the
sharing (one ``nn.Parameter`` object) and each parameter's ``requires_grad``.

``load`` trusts nothing in the file:

* the document's structure and types are checked (unknown or missing keys, non-dict nodes, bad
  references, nesting deeper than ``MAX_DEPTH``) and every problem is one ``ValueError`` naming
  the file and the place in the document;
* a family is resolved by qualified name (``kmatrix.families.cauchy.Cauchy``) among the classes
  the kmatrix package itself defines, verified to be the attribute of its module, so a user
  class with the same name cannot stand in for it; user-defined families load only when the
  caller lists them (``families=[MyFamily]``); no module is ever imported;
* dtypes are read from a fixed table (``DTYPES``), never with ``getattr(torch, name)``;
* before anything is allocated, each node is built once on the ``meta`` device (no memory) and
  the shapes, dtypes and kinds of what it would own are compared with the tensors actually
  stored, so a small file declaring a huge size is refused instead of allocating it;
* after loading, every matrix re-runs its family's constructor checks on the loaded values
  (``StructuredMatrix.validate``): Cauchy nodes distinct, LDR operators solvable, finite values,
  permutations consistent, sparse indices in range.

``save`` writes atomically: a temporary file in the target's directory, flushed and fsynced,
then ``os.replace`` over the target; a failure leaves the previous file untouched and removes
the temporary file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from .files import atomic_writer
from .structured import FAMILIES, StructuredMatrix, family_name

__all__ = ["DTYPES", "FORMAT_VERSION", "MAX_DEPTH", "load", "save"]

FORMAT_VERSION = 2

#: the dtype names a file may use (constructor arguments and stored tensors)
DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}
#: dtypes a stored tensor may have: the above and index / mask types
_TENSOR_DTYPES = frozenset(DTYPES.values()) | {torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool}
#: deepest nesting of matrices (a Sum of Products of ...) and of lists inside constructor arguments
MAX_DEPTH = 64
_DOC_KEYS = {"format", "version", "tensors", "nodes", "root"}
_NODE_KEYS = {"family", "kwargs", "state"}
_ENTRY_KEYS = {"tensor", "kind", "requires_grad"}
_KINDS = ("parameter", "buffer")


# ---------------------------------------------------------------------- own state of a module
def _own_state(module: nn.Module) -> Iterator[tuple[str, str, torch.Tensor]]:
    """(name, kind, tensor) of the parameters and persistent buffers ``module`` owns itself:
    those of plain submodules (dotted names) but not those of nested structured matrices."""

    def walk(mod: nn.Module, prefix: str, depth: int):
        for name, p in mod._parameters.items():
            if p is not None:
                yield prefix + name, "parameter", p
        for name, b in mod._buffers.items():
            if b is not None and name not in mod._non_persistent_buffers_set:
                yield prefix + name, "buffer", b
        for name, child in mod._modules.items():
            if child is None or isinstance(child, StructuredMatrix):
                continue
            if depth >= MAX_DEPTH:
                raise ValueError(f"{prefix}{name}: submodules nested deeper than {MAX_DEPTH}")
            yield from walk(child, f"{prefix}{name}.", depth + 1)

    yield from walk(module, "", 0)


def _set_own(module: nn.Module, name: str, kind: str, tensor: torch.Tensor) -> None:
    """Make ``tensor`` (an existing Parameter / buffer object) the module's ``name``."""
    *path, leaf = name.split(".")
    owner = module.get_submodule(".".join(path)) if path else module
    if kind == "parameter":
        owner._parameters[leaf] = tensor
    else:
        owner._buffers[leaf] = tensor


# ---------------------------------------------------------------------- save
def _view_key(t: torch.Tensor) -> tuple:
    return (
        t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()),
        t.dtype, t.device, t.is_conj(), t.is_neg(),
    )


class _Writer:
    def __init__(self):
        self.tensors: list[torch.Tensor] = []
        self.nodes: list[dict] = []
        self.node_index: dict[int, int] = {}  # id(module) -> node index
        self.by_id: dict[int, int] = {}  # id(state tensor) -> tensor index
        self.by_view: dict[tuple, int] = {}  # view of a state tensor -> tensor index
        self.alive: list[Any] = []  # keeps every object whose id() is a key alive

    def node(self, m: StructuredMatrix, depth: int) -> int:
        if id(m) in self.node_index:
            return self.node_index[id(m)]
        if depth > MAX_DEPTH:
            raise ValueError(f"matrix: structured matrices nested deeper than {MAX_DEPTH}")
        state = {}
        for name, kind, t in _own_state(m):
            if id(t) not in self.by_id:
                self.by_id[id(t)] = len(self.tensors)
                self.by_view.setdefault(_view_key(t), len(self.tensors))
                self.tensors.append(t.detach())
                self.alive.append(t)
            state[name] = {
                "tensor": self.by_id[id(t)],
                "kind": kind,
                "requires_grad": bool(t.requires_grad) if kind == "parameter" else False,
            }
        kwargs = {k: self.value(v, depth, f"{type(m).__name__}._config()[{k!r}]") for k, v in m._config().items()}
        self.node_index[id(m)] = len(self.nodes)
        self.alive.append(m)
        self.nodes.append({"family": family_name(type(m)), "kwargs": kwargs, "state": state})
        return self.node_index[id(m)]

    def value(self, v: Any, depth: int, where: str) -> Any:
        if isinstance(v, StructuredMatrix):
            return {"node": self.node(v, depth + 1)}
        if isinstance(v, torch.Tensor):
            key = _view_key(v)
            if key not in self.by_view:  # not a view of a state tensor: a compact copy
                self.by_view[key] = len(self.tensors)
                self.tensors.append(v.detach().clone())
                self.alive.append(v)
            return {"tensor": self.by_view[key]}
        if isinstance(v, torch.dtype):
            name = str(v).removeprefix("torch.")
            if DTYPES.get(name) is not v:
                raise TypeError(f"{where}: dtype {v} cannot be saved (expected one of {sorted(DTYPES)})")
            return {"dtype": name}
        if isinstance(v, (list, tuple)):
            if depth > MAX_DEPTH:
                raise ValueError(f"{where}: lists nested deeper than {MAX_DEPTH}")
            return type(v)(self.value(x, depth + 1, where) for x in v)
        if v is None or isinstance(v, (bool, int, float, complex, str)):
            return v
        raise TypeError(f"{where}: cannot serialise a constructor argument of type {type(v).__name__}")


def save(matrix: StructuredMatrix, path: str | os.PathLike) -> None:
    """Write ``matrix`` (constructor arguments + tensors, shared tensors once) to ``path``,
    atomically; ``load(path)`` rebuilds it with the same sharing and ``requires_grad`` flags.

    Examples
    --------
    >>> B = kmatrix.Butterfly(16)
    >>> M = B + 2 * B.T                           # one parameter reached twice
    >>> kmatrix.save(M, "m.kmx")
    >>> M2 = kmatrix.load("m.kmx")
    >>> len(list(M2.parameters())), torch.equal(M2(torch.ones(16)), M(torch.ones(16)))
    (1, True)
    """
    if not isinstance(matrix, StructuredMatrix):
        raise TypeError(f"matrix: expected a StructuredMatrix, got {type(matrix).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}")
    w = _Writer()
    root = w.node(matrix, 0)
    doc = {"format": "kmatrix", "version": FORMAT_VERSION, "tensors": w.tensors, "nodes": w.nodes, "root": root}
    _atomic_torch_save(doc, os.fspath(path))


def _atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through :func:`kmatrix.core.files.atomic_writer` (temporary file beside
    ``path``, fsync, ``os.replace``; a failure leaves ``path`` as it was)."""
    with atomic_writer(path, "wb") as f:
        torch.save(obj, f)


# ---------------------------------------------------------------------- load
def _resolve_attr(module_name: str, qualname: str) -> Any:
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part, None)
    return obj


def _known_families(extra: Iterable[type]) -> dict[str, type]:
    """The classes a file may name: kmatrix's own families (registered, and verified to be the
    attribute of the module they claim) plus the caller's ``families``."""
    known = {}
    for name, cls in list(FAMILIES.items()):
        module = cls.__module__
        if (module == "kmatrix" or module.startswith("kmatrix.")) and _resolve_attr(module, cls.__qualname__) is cls:
            known[name] = cls
    if isinstance(extra, type):
        extra = [extra]
    for cls in extra:
        if not (isinstance(cls, type) and issubclass(cls, StructuredMatrix)):
            raise TypeError(f"families: expected StructuredMatrix subclasses, got {cls!r}")
        known[family_name(cls)] = cls
    return known


class _Reader:
    def __init__(self, path, doc: Any, families: dict[str, type]):
        self.path, self.families = path, families
        self.tensors: list[torch.Tensor] = []
        self.built: list[StructuredMatrix] = []
        self.depth: list[int] = []
        self.bound: dict[int, torch.Tensor] = {}  # tensor index -> the live Parameter / buffer
        self.bound_kind: dict[int, str] = {}
        self.doc = self.check_document(doc)

    def fail(self, where: str, msg: str) -> ValueError:
        return ValueError(f"path: {self.path}: {where}: {msg}")

    # -------------------------------------------------------------- document structure
    def check_document(self, doc: Any) -> dict:
        if not isinstance(doc, dict) or doc.get("format") != "kmatrix":
            raise ValueError(f"path: {self.path} is not a kmatrix file")
        version = doc.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise self.fail("version", f"expected an integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise self.fail("version", f"file format version {version} is newer than this kmatrix (reads {FORMAT_VERSION})")
        if version != FORMAT_VERSION:
            raise self.fail(
                "version",
                f"file format version {version} is not read by this kmatrix (reads {FORMAT_VERSION}; version 1 "
                "did not record shared parameters): load it with the kmatrix that wrote it and save it again",
            )
        keys = set(doc)
        if keys != _DOC_KEYS:
            raise self.fail("document", f"expected keys {sorted(_DOC_KEYS)}, got {sorted(map(str, keys))}")
        tensors, nodes, root = doc["tensors"], doc["nodes"], doc["root"]
        if not isinstance(tensors, list):
            raise self.fail("tensors", f"expected a list, got {type(tensors).__name__}")
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise self.fail(f"tensors[{i}]", f"expected a tensor, got {type(t).__name__}")
            if t.layout != torch.strided or t.dtype not in _TENSOR_DTYPES:
                raise self.fail(f"tensors[{i}]", f"expected a dense tensor of a numeric dtype, got {t.layout} {t.dtype}")
        if not isinstance(nodes, list) or not nodes:
            raise self.fail("nodes", f"expected a non-empty list, got {type(nodes).__name__}")
        if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < len(nodes):
            raise self.fail("root", f"expected a node index in [0, {len(nodes)}), got {root!r}")
        self.tensors = tensors
        return doc

    def index(self, where: str, v: Any, bound: int, what: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < bound:
            raise self.fail(where, f"expected a {what} index in [0, {bound}), got {v!r}")
        return v

    def value(self, v: Any, where: str, depth: int, node: int, children: list[int]) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(where, f"values nested deeper than {MAX_DEPTH}")
        if isinstance(v, dict):
            if len(v) != 1:
                raise self.fail(where, f"expected a reference {{'node' | 'tensor' | 'dtype': ...}}, got keys {sorted(map(str, v))}")
            (tag, ref), = v.items()
            if tag == "node":  # children come before their parents: references point back
                k = self.index(where, ref, node, "node (earlier)")
                children.append(k)
                return self.built[k]
            if tag == "tensor":
                return self.tensors[self.index(where, ref, len(self.tensors), "tensor")]
            if tag == "dtype":
                if not isinstance(ref, str) or ref not in DTYPES:
                    raise self.fail(where, f"expected a dtype name in {sorted(DTYPES)}, got {ref!r}")
                return DTYPES[ref]
            raise self.fail(where, f"unknown reference kind {tag!r} (expected 'node', 'tensor' or 'dtype')")
        if isinstance(v, (list, tuple)):
            return type(v)(self.value(x, f"{where}[{i}]", depth + 1, node, children) for i, x in enumerate(v))
        if v is None or isinstance(v, (bool, int, float, complex, str)):
            return v
        raise self.fail(where, f"unexpected value of type {type(v).__name__}")

    # -------------------------------------------------------------- one node
    def build(self, i: int) -> None:
        node = self.doc["nodes"][i]
        where = f"nodes[{i}]"
        if not isinstance(node, dict):
            raise self.fail(where, f"expected a dict, got {type(node).__name__}")
        if set(node) != _NODE_KEYS:
            raise self.fail(where, f"expected keys {sorted(_NODE_KEYS)}, got {sorted(map(str, node))}")
        name = node["family"]
        if not isinstance(name, str):
            raise self.fail(f"{where}.family", f"expected a string, got {type(name).__name__}")
        cls = self.families.get(name)
        if cls is None:
            raise self.fail(
                f"{where}.family",
                f"unknown structured-matrix family {name!r}: not a class of the kmatrix package "
                "(a family of your own loads only when listed: kmatrix.load(path, families=[MyFamily]))",
            )
        where = f"{where} ({cls.__qualname__})"
        kwargs_doc, state = node["kwargs"], node["state"]
        if not isinstance(kwargs_doc, dict) or not all(isinstance(k, str) and k.isidentifier() for k in kwargs_doc):
            raise self.fail(f"{where}.kwargs", "expected a dict with argument names as keys")
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise self.fail(f"{where}.state", "expected a dict with tensor names as keys")
        children: list[int] = []
        kwargs = {k: self.value(v, f"{where}.kwargs[{k!r}]", 0, i, children) for k, v in kwargs_doc.items()}
        depth = 1 + max((self.depth[c] for c in children), default=0)
        if depth > MAX_DEPTH:
            raise self.fail(where, f"structured matrices nested deeper than {MAX_DEPTH}")
        entries = {}
        for k, e in state.items():
            w = f"{where}.state[{k!r}]"
            if not isinstance(e, dict) or set(e) != _ENTRY_KEYS:
                raise self.fail(w, f"expected a dict with keys {sorted(_ENTRY_KEYS)}")
            idx = self.index(w, e["tensor"], len(self.tensors), "tensor")
            if e["kind"] not in _KINDS or not isinstance(e["requires_grad"], bool):
                raise self.fail(w, f"expected kind in {_KINDS} and a bool requires_grad, got {e['kind']!r}, {e['requires_grad']!r}")
            entries[k] = (idx, e["kind"], e["requires_grad"])

        # 1. dry run on the meta device: what would the constructor allocate?
        try:
            with torch.device("meta"):
                probe = cls(**kwargs)
        except Exception as exc:  # noqa: BLE001 - any constructor error is a malformed file
            raise self.fail(where, f"invalid constructor arguments: {type(exc).__name__}: {exc}") from None
        self.compare(where, probe, entries)
        del probe
        # 2. the real matrix, then the stored values, with sharing restored
        try:
            obj = cls(**kwargs)
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - the dry run raised the same already
            raise self.fail(where, f"invalid constructor arguments: {type(exc).__name__}: {exc}") from None
        own = self.compare(where, obj, entries)
        for k, (idx, kind, requires_grad) in entries.items():
            stored, live = self.tensors[idx], own[k]
            if idx in self.bound:  # shared with an earlier node: the same object
                live = self.bound[idx]
                if self.bound_kind[idx] != kind or (kind == "parameter" and live.requires_grad != requires_grad):
                    raise self.fail(f"{where}.state[{k!r}]", f"tensor {idx} is shared with a different kind or requires_grad flag")
                _set_own(obj, k, kind, live)
                continue
            with torch.no_grad():
                live.copy_(stored)
            if kind == "parameter":
                live.requires_grad_(requires_grad)
            self.bound[idx], self.bound_kind[idx] = live, kind
        self.built.append(obj)
        self.depth.append(depth)

    def compare(self, where: str, module: StructuredMatrix, entries: dict) -> dict[str, torch.Tensor]:
        """The module's own tensors must be exactly the stored ones: same names, kinds, shapes
        and dtypes (this is the size check that runs before any allocation)."""
        own = {name: (kind, t) for name, kind, t in _own_state(module)}
        if set(own) != set(entries):
            missing, extra = sorted(set(own) - set(entries)), sorted(set(entries) - set(own))
            raise self.fail(f"{where}.state", f"expected tensors {sorted(own)}; missing {missing}, unexpected {extra}")
        for name, (kind, t) in own.items():
            idx, skind, _ = entries[name]
            s = self.tensors[idx]
            if skind != kind or tuple(s.shape) != tuple(t.shape) or s.dtype != t.dtype:
                raise self.fail(
                    f"{where}.state[{name!r}]",
                    f"the constructor arguments declare a {kind} of shape {tuple(t.shape)} and dtype {t.dtype}, "
                    f"the file stores a {skind} of shape {tuple(s.shape)} and dtype {s.dtype}",
                )
        return {name: t for name, (_, t) in own.items()}

    def run(self) -> StructuredMatrix:
        for i in range(len(self.doc["nodes"])):
            self.build(i)
        root = self.built[self.doc["root"]]
        try:
            root.validate()
        except ValueError as exc:
            raise ValueError(f"path: {self.path}: the stored values are invalid: {exc}") from None
        return root


def load(path: str | os.PathLike, map_location=None, *, families: Iterable[type] = ()) -> StructuredMatrix:
    """Read and validate a matrix written by :func:`save` (``help("kmatrix.core.io")``: what is
    checked).

    ``families``: your own ``StructuredMatrix`` subclasses that the file may name (by module and
    qualified name); kmatrix's families are always known. ``map_location`` as in ``torch.load``.
    Raises ``ValueError`` naming the file and the place in it for any malformed or invalid
    content, ``OSError`` when the file cannot be read.

    Examples
    --------
    >>> kmatrix.save(kmatrix.Diagonal(torch.tensor([1.0, 2.0])), "d.kmx")
    >>> kmatrix.load("d.kmx").diag.tolist()
    [1.0, 2.0]
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}")
    known = _known_families(families)
    try:
        doc = torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever torch.load raises on junk bytes
        raise ValueError(f"path: {path} is not a readable kmatrix file ({type(exc).__name__}: {exc})") from None
    return _Reader(path, doc, known).run()
