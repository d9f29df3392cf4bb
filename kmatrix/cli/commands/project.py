"""``kmatrix project M.npy --family F [options] [--out W.kmx]``: project a matrix stored in a
file onto a structured family (:func:`kmatrix.project`), print the report, and optionally write
the result with :func:`kmatrix.save` (atomically: a temporary file in the same folder, then
``os.replace``).

Inputs: ``.npy`` (numpy, no pickles), ``.pt`` / ``.pth`` (``torch.load(weights_only=True)``: a
tensor, or a dict of tensors with ``--key``), ``.safetensors`` (needs the ``safetensors``
package; ``--key`` picks the tensor when there are several).
"""

from __future__ import annotations

import os


def _pick(tensors: dict, key: str | None, path: str):
    if key is not None:
        if key not in tensors:
            raise SystemExit(f"kmatrix project: --key {key!r} not in {path} (keys: {', '.join(sorted(tensors))})")
        return tensors[key]
    if len(tensors) != 1:
        raise SystemExit(f"kmatrix project: {path} holds {len(tensors)} tensors; choose one with --key ({', '.join(sorted(tensors))})")
    return next(iter(tensors.values()))


def load_matrix(path: str, key: str | None = None):
    """The matrix stored in ``path`` (.npy, .pt/.pth, .safetensors) as a tensor or array."""
    import numpy as np
    import torch

    if not os.path.isfile(path):
        raise SystemExit(f"kmatrix project: no such file: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise SystemExit(f"kmatrix project: cannot read {path} as a numeric .npy array ({exc})") from exc
    if ext in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise SystemExit(f"kmatrix project: cannot read {path} with torch.load(weights_only=True) ({exc})") from exc
        if isinstance(obj, dict):
            obj = _pick({k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}, key, path)
        if not isinstance(obj, torch.Tensor):
            raise SystemExit(f"kmatrix project: {path} holds a {type(obj).__name__}, expected a tensor")
        return obj
    if ext == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise SystemExit("kmatrix project: .safetensors inputs need the safetensors package: pip install safetensors") from exc
        return _pick(load_file(path), key, path)
    raise SystemExit(f"kmatrix project: unsupported input {path!r}: expected .npy, .pt, .pth or .safetensors")


_OPTIONS = ("rank", "nnz", "nblocks", "width", "expansion", "order", "perm", "lam")


def _run(args) -> int:
    from ...core.io import save
    from ...project import project

    M = load_matrix(args.matrix, args.key)
    params = {k: getattr(args, k) for k in _OPTIONS if getattr(args, k) is not None}
    try:
        W, report = project(M, args.family, **params)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"kmatrix project: {exc}") from exc
    print(report)
    if args.out:
        save(W, args.out)  # kmatrix.save writes atomically
        print(f"wrote {args.out} ({type(W).__name__}, {W.num_params} parameters)")
    return 0


def register(sub) -> None:
    from ...project import METHODS

    p = sub.add_parser("project", help="project a stored matrix onto a structured family",
                       epilog="example: kmatrix project M.npy --family butterfly --perm bitrev --out W.kmx")
    p.add_argument("matrix", help="input matrix: .npy, .pt/.pth or .safetensors")
    p.add_argument("--family", required=True, choices=sorted(METHODS))
    p.add_argument("--key", help="tensor name inside a .pt dict / .safetensors file")
    p.add_argument("--perm", choices=["bitrev", "search"], help="butterfly: column permutation")
    p.add_argument("--order", choices=["auto", "left-to-right", "right-to-left", "balanced"], help="butterfly / kmatrix order")
    p.add_argument("--rank", type=int, help="lowrank / monarch / sparse+lowrank rank")
    p.add_argument("--nnz", type=int, help="sparse / sparse+lowrank number of nonzeros")
    p.add_argument("--nblocks", type=int, help="monarch number of blocks")
    p.add_argument("--width", type=int, help="kmatrix width w")
    p.add_argument("--expansion", type=int, help="kmatrix expansion e")
    p.add_argument("--lam", type=float, help="sparse+lowrank λ (default 1/sqrt(max(m, n)))")
    p.add_argument("--out", help="write the result with kmatrix.save (e.g. W.kmx)")
    p.set_defaults(func=_run)
