"""The public objects the documentation covers: everything listed in the ``__all__`` of kmatrix and
of its public subpackages, with the public methods and properties each class defines itself."""

from __future__ import annotations

import importlib
import inspect

PACKAGES = [
    "kmatrix",
    "kmatrix.core",
    "kmatrix.transforms",
    "kmatrix.theorems",
    "kmatrix.circuits",
    "kmatrix.nn",
    "kmatrix.kernels",
    "kmatrix.testing",
    "kmatrix.learn",
    "kmatrix.project",
]
SPECIAL = ("__add__", "__matmul__", "__mul__", "__rmul__", "__call__")


def documented_objects() -> dict[str, object]:
    """The public classes and functions themselves and the operators of classes (``__add__``,
    ``__matmul__``, ...): what must carry an Examples section (methods are shown in their class's)."""
    return {
        name: obj
        for name, obj in public_objects().items()
        if inspect.isclass(obj) or name.count(".") == 1 or name.rsplit(".", 1)[1] in SPECIAL
        or name.rsplit(".", 2)[-2] not in _CLASS_NAMES
    }


_CLASS_NAMES: set[str] = set()


def public_objects() -> dict[str, object]:
    """qualified public name -> object (functions and classes; each object once, under the first
    package that exports it)."""
    seen: dict[int, str] = {}
    out: dict[str, object] = {}
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
                continue
            if id(obj) in seen:
                continue
            seen[id(obj)] = f"{pkg}.{name}"
            out[f"{pkg}.{name}"] = obj
            if inspect.isclass(obj):
                _CLASS_NAMES.add(name)
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr not in SPECIAL:
                        continue
                    if isinstance(value, (staticmethod, classmethod)):
                        value = value.__func__
                    if isinstance(value, property) or inspect.isfunction(value):
                        out[f"{pkg}.{name}.{attr}"] = value
    return out
