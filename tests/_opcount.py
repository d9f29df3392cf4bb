"""An operation counter for the flop tests, independent of the library's own counting: runs a
product under a ``TorchDispatchMode`` and adds up the real arithmetic of every ATen operation
that executes, with conventions fixed here (not taken from kmatrix):

* elementwise add / sub: 1 per output entry (2 when complex); mul: 1 (complex·complex 6,
  complex·real 2); div: 1 (by a complex number 8: z·w̄ is 6, then two real divisions by
  |w|², whose 3 flops are not shared... taken as 8 in all); reciprocal: 1 (complex 5:
  z̄/|z|²); neg / conj / copies / indexing / zeros: 0;
* mm / addmm / bmm / mv / dot: (m×k)·(k×n) costs mn(2k − 1) real, mn(8k − 2) complex, plus mn
  (2mn) for addmm's addition;
* sum: (entries in − entries out) additions; index_add: one addition per source entry;
  cumsum / cumprod: one addition / multiplication per entry;
* FFT: 5·N·log2 N per complex transform of length N, 2.5·N·log2 N per real one (r2c / c2r).
"""

from __future__ import annotations

import math

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


def _numel(t) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 1


def _cplx(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_complex()


def _mm_cost(m: int, k: int, n: int, cplx: bool) -> int:
    return m * n * (8 * k - 2) if cplx else m * n * (2 * k - 1)


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.flops = 0
        self.ops: dict[str, int] = {}

    def _add(self, name: str, f: float) -> None:
        self.flops += f
        self.ops[name] = self.ops.get(name, 0) + int(f)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__.rstrip("_")
        res = out[0] if isinstance(out, (tuple, list)) else out
        if name in ("add", "sub", "rsub"):
            self._add(name, _numel(res) * (2 if _cplx(res) else 1))
        elif name == "mul":
            a, b = args[0], args[1]
            c = 6 if (_cplx(a) and _cplx(b)) else (2 if _cplx(res) else 1)
            self._add(name, _numel(res) * c)
        elif name == "div":
            self._add(name, _numel(res) * (8 if _cplx(args[1]) else (2 if _cplx(res) else 1)))
        elif name == "reciprocal":
            self._add(name, _numel(res) * (5 if _cplx(res) else 1))
        elif name in ("mm", "addmm", "bmm", "mv", "dot", "baddbmm", "addmv"):
            a = args[1] if name in ("addmm", "baddbmm", "addmv") else args[0]
            b = args[2] if name in ("addmm", "baddbmm", "addmv") else args[1]
            cplx = _cplx(res)
            if name in ("bmm", "baddbmm"):
                f = a.shape[0] * _mm_cost(a.shape[1], a.shape[2], b.shape[2], cplx)
            elif name in ("mv", "addmv"):
                f = _mm_cost(a.shape[0], a.shape[1], 1, cplx)
            elif name == "dot":
                f = _mm_cost(1, a.shape[0], 1, cplx)
            else:
                f = _mm_cost(a.shape[0], a.shape[1], b.shape[1], cplx)
            if name in ("addmm", "baddbmm", "addmv"):
                f += _numel(res) * (2 if cplx else 1)
            self._add(name, f)
        elif name == "sum":
            self._add(name, (_numel(args[0]) - _numel(res)) * (2 if _cplx(args[0]) else 1))
        elif name == "index_add":
            self._add(name, _numel(args[3]) * (2 if _cplx(res) else 1))
        elif name in ("cumsum", "cumprod"):
            c = (2 if name == "cumsum" else 6) if _cplx(res) else 1
            self._add(name, _numel(res) * c)
        elif name in ("_fft_c2c", "_fft_r2c", "_fft_c2r"):
            x, dims = args[0], args[1]
            N = math.prod(x.shape[d] for d in dims) if name != "_fft_c2r" else math.prod(res.shape[d] for d in dims)
            batch = _numel(x if name != "_fft_c2r" else res) // N
            per = 5 * N * math.log2(N) if name == "_fft_c2c" else 2.5 * N * math.log2(N)
            self._add(name, batch * per)
        return out
