"""The zoo: every family's battery entries. Each module in this folder defines ``ENTRIES``
(a list of ``ZooEntry``); adding a family means adding one module (or one entry)."""

from __future__ import annotations

import importlib
import pkgutil

from ..battery import ZooEntry

ZOO: list[ZooEntry] = []
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    ZOO.extend(importlib.import_module(f"{__name__}.{_info.name}").ENTRIES)


def zoo_ids() -> list[str]:
    """The names of the zoo's entries, in ``ZOO`` order (one per family configuration).

    Examples
    --------
    >>> ids = kmatrix.testing.zoo_ids()
    >>> ids[:3]
    ['Dense', 'Diagonal', 'Permutation']
    """
    return [e.name for e in ZOO]
