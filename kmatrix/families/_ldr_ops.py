"""Displacement operators for :class:`kmatrix.families.LDR`: specification, spectra, dense forms,
and the fast pieces of the reconstruction formula (Krylov products, operator kernels).

Operator specification (serialisable; ``LDR._config()`` stores the canonical form)
----------------------------------------------------------------------------------
Conventions of NOTES.md: the shift Z has Z[i, j] = 1 iff i = j − 1 (ones on the superdiagonal);
the f-circulant shift is Z_f = Zᵀ + f·e_0·e_{n−1}ᵀ (ones on the subdiagonal, f top right).

=====================  ======================================  =================================
spec                   matrix (size k)                          eigenvalues
=====================  ======================================  =================================
``"Zt"``               Zᵀ = Z_0 (down-shift: (Zᵀx)_i = x_{i−1})  0 (k times)
``"Z"``                Z = Z_0ᵀ (up-shift: (Zx)_i = x_{i+1})    0 (k times)
``("Zf", f)``          Z_f = Zᵀ + f e_0 e_{k−1}ᵀ                the k-th roots of f
``("Zft", f)``         Z_fᵀ = Z + f e_{k−1} e_0ᵀ                the k-th roots of f
``("D", d)``           diag(d), d a 1-d tensor of length k      d_0, …, d_{k−1}
=====================  ======================================  =================================

A bare 1-d tensor or numpy array is accepted for ``("D", d)``. f is a Python number (real or
complex). Internally an operator is ``Op(kind, phi)`` with kind ``"down"`` (Z_φ), ``"up"`` (Z_φᵀ)
or ``"diag"``; the transpose swaps down and up and keeps diag.

Pieces of the reconstruction formula (derivation in ``ldr.py``)
---------------------------------------------------------------
* Krylov matrices K(A, g) = [g, A g, …, A^{k−1} g]: K(Z_φ, g) = Z_φ(g), the φ-circulant with first
  column g (Z_φ(g)[i, j] = g[i−j] for i ≥ j, φ·g[k+i−j] for i < j), and K(Z_φᵀ, g) = J Z_φ(J g)
  (J the reversal); Z_φ(g)ᵀ = J Z_φ(g) J. A product Z_φ(g) x is one linear convolution
  p = g ∗ x (FFT of length N = fast_len(2k − 1)) folded as y_i = p_i + φ·p_{i+k}.
* Kernels: the middle factor of the formula when an operator is diagonal (a Cauchy-type matrix
  1/(s_i − t_j), 1/(1 − s_i t_j), or a scaled Vandermonde-type matrix z_j^{p}/den_j). They are
  functions of the fixed operators only; they are evaluated tile by tile (at most 2^20 entries at
  a time, never the whole m×n matrix) inside an autograd Function whose backward recomputes the
  tiles, so neither the forward nor the backward pass stores an m×n matrix.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.validation import as_tensor, check_finite
from ._fft import fast_len, inverse_spectrum, spectrum

__all__ = ["Op", "check_solvable", "eigenvalues", "operator_matrix", "parse_operator"]

#: two spectra closer than this (relative to their scale) count as shared: the generators would
#: not determine W (or only with a condition number beyond double precision).
SPECTRAL_RTOL = 1e-12
#: entries per kernel tile
TILE_ENTRIES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Op:
    """A parsed operator: kind in {"down", "up", "diag"}; phi for the shifts."""

    kind: str
    phi: float | complex = 0.0

    @property
    def is_shift(self) -> bool:
        return self.kind != "diag"

    def transpose(self) -> Op:
        return Op({"down": "up", "up": "down", "diag": "diag"}[self.kind], self.phi)

    def spec(self, diag: torch.Tensor | None = None) -> Any:
        """The canonical serialisable spec ("Z", "Zt", ("Zf", f), ("Zft", f), ("D", d))."""
        if self.kind == "diag":
            return ("D", diag)
        if self.phi == 0:
            return "Zt" if self.kind == "down" else "Z"
        return ("Zf" if self.kind == "down" else "Zft", self.phi)


def _number(value: Any, name: str) -> float | complex:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name}: expected a scalar f, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, complex, np.number)):
        raise TypeError(f"{name}: expected a real or complex number f, got {type(value).__name__}")
    value = complex(value)
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise ValueError(f"{name}: expected a finite f, got {value}")
    return value.real if value.imag == 0 else value


def parse_operator(spec: Any, name: str, size: int) -> tuple[Op, torch.Tensor | None]:
    """Parse an operator spec for a size×size operator; returns (Op, diagonal tensor or None)."""
    if isinstance(spec, str):
        if spec == "Z":
            return Op("up", 0.0), None
        if spec == "Zt":
            return Op("down", 0.0), None
        raise ValueError(f"{name}: unknown operator {spec!r}; expected 'Z', 'Zt', ('Zf', f), ('Zft', f) or ('D', d)")
    if isinstance(spec, (torch.Tensor, np.ndarray)):
        spec = ("D", spec)
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        tag, arg = spec
        if tag in ("Zf", "Zft"):
            return Op("down" if tag == "Zf" else "up", _number(arg, name)), None
        if tag == "D":
            d = as_tensor(arg, name, ndim=1)
            check_finite(d, name)
            if d.shape[0] != size:
                raise ValueError(f"{name}: expected a diagonal of length {size} (from the generators), got {d.shape[0]}")
            return Op("diag"), d
        raise ValueError(f"{name}: unknown operator tag {tag!r}; expected 'Zf', 'Zft' or 'D'")
    raise TypeError(
        f"{name}: expected an operator spec 'Z', 'Zt', ('Zf', f), ('Zft', f), ('D', d) or a 1-d tensor, "
        f"got {type(spec).__name__}"
    )


def operator_matrix(op: Op, diag: torch.Tensor | None, size: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The dense size×size operator (for tests, ``displacement`` and ``from_dense``)."""
    if op.kind == "diag":
        return torch.diag(diag.to(dtype))
    A = torch.zeros(size, size, dtype=dtype, device=device)
    idx = torch.arange(size - 1, device=device)
    if op.kind == "down":  # Z_φ: subdiagonal ones, φ top right
        A[idx + 1, idx] = 1
        A[0, size - 1] += op.phi
    else:  # Z_φᵀ: superdiagonal ones, φ bottom left
        A[idx, idx + 1] = 1
        A[size - 1, 0] += op.phi
    return A


def apply_left(op: Op, diag: torch.Tensor | None, X: torch.Tensor) -> torch.Tensor:
    """A X for the operator A (exact: shifts only move entries)."""
    if op.kind == "diag":
        return diag.to(X.dtype)[:, None] * X
    if op.kind == "down":  # (Z_φ X)[0] = φ X[k−1], (Z_φ X)[i] = X[i−1]
        return torch.cat([op.phi * X[-1:], X[:-1]], dim=0)
    return torch.cat([X[1:], op.phi * X[:1]], dim=0)  # (Z_φᵀ X)[i] = X[i+1], [k−1] = φ X[0]


def apply_right(X: torch.Tensor, op: Op, diag: torch.Tensor | None) -> torch.Tensor:
    """X A = (Aᵀ Xᵀ)ᵀ."""
    return apply_left(op.transpose(), diag, X.transpose(0, 1)).transpose(0, 1)


# ---------------------------------------------------------------------------------- spectra
def eigenvalues(op: Op, diag: torch.Tensor | None, size: int) -> torch.Tensor:
    """Eigenvalues in complex128: the diagonal, or the size-th roots of φ for the shifts."""
    if op.kind == "diag":
        return diag.detach().to(torch.complex128).cpu()
    return _roots(op.phi, size)


def _roots(phi, k: int) -> torch.Tensor:
    if phi == 0:
        return torch.zeros(k, dtype=torch.complex128, device="cpu")  # CPU even under torch.device("meta")
    rho = abs(phi) ** (1.0 / k)
    ang = (np.angle(phi) + 2 * np.pi * np.arange(k)) / k
    return torch.from_numpy(rho * np.exp(1j * ang))


def _dist_to_roots(z: torch.Tensor, phi, k: int) -> torch.Tensor:
    """|z_i − (nearest k-th root of φ)| for each z_i (O(len z))."""
    if phi == 0:
        return z.abs()
    rho = abs(phi) ** (1.0 / k)
    base = np.angle(phi) / k
    kk = torch.round((torch.angle(z) - base) * k / (2 * np.pi))
    root = torch.polar(torch.full_like(kk, rho), base + 2 * np.pi * kk / k)
    return (z - root).abs()


def _min_pair_gap(a: torch.Tensor, b: torch.Tensor, stein: bool = False) -> tuple[float, int, int]:
    """min over pairs of |a_i − b_j| (or |1 − a_i b_j| when ``stein``) and its (i, j), in chunks
    of at most TILE_ENTRIES pairs."""
    best, arg = math.inf, (0, 0)
    step = max(1, TILE_ENTRIES // max(1, b.shape[0]))
    for i0 in range(0, a.shape[0], step):
        ai = a[i0 : i0 + step, None]
        gap = (1 - ai * b[None, :]).abs() if stein else (ai - b[None, :]).abs()
        v = float(gap.min())
        if v < best:
            flat = int(gap.argmin())
            best, arg = v, (i0 + flat // b.shape[0], flat % b.shape[0])
    return best, arg[0], arg[1]


def check_solvable(L: Op, Ld, m: int, R: Op, Rd, n: int, form: str) -> None:
    """Raise ValueError when the displacement map W ↦ L W − W R (Sylvester) or W ↦ W − L W R
    (Stein) is singular: L and R share an eigenvalue (Sylvester), or λ_i(L)·μ_j(R) = 1 (Stein).
    Shared within ``SPECTRAL_RTOL`` relative to the spectra's scale counts as shared."""
    stein = form == "stein"
    if L.is_shift and R.is_shift:
        if m != n:
            raise ValueError(
                f"L, R: two shift operators need a square matrix (got {m}×{n}); the reconstruction "
                "formula uses L^m = φ_L·I and R^m = φ_R·I on the same m"
            )
        if stein:
            bad = abs(1 - L.phi * R.phi) <= SPECTRAL_RTOL
            what = f"φ_L·φ_R = {L.phi * R.phi} = 1, so some λ_i(L)·μ_j(R) = 1"
        else:
            bad = abs(L.phi - R.phi) <= SPECTRAL_RTOL * max(1.0, abs(L.phi), abs(R.phi))
            what = f"φ_L = {L.phi} and φ_R = {R.phi} give the same eigenvalues (the k-th roots of φ)"
        if bad:
            raise ValueError(f"L, R: the {form} displacement operator is singular: {what}; the generators do not determine W")
        return
    lam = eigenvalues(L, Ld, m)
    mu = eigenvalues(R, Rd, n)
    if stein:  # λ μ = 1  ⟺  λ = 1/μ (μ ≠ 0); measure |1 − λ μ|
        if L.is_shift or R.is_shift:
            z, op, k = (mu, L, m) if L.is_shift else (lam, R, n)
            nz = z != 0
            gaps = _dist_to_roots(1 / z[nz], op.phi, k) * z[nz].abs() if bool(nz.any()) else torch.ones(1, device="cpu")
            if float(gaps.min()) <= SPECTRAL_RTOL:
                i = int(torch.nonzero(nz)[int(gaps.argmin())])
                side = "R" if L.is_shift else "L"
                raise ValueError(
                    f"L, R: the stein displacement operator is singular: {side} eigenvalue {complex(z[i])} "
                    f"times an eigenvalue of the shift (a {k}-th root of {op.phi}) is 1"
                )
            return
        gap, i, j = _min_pair_gap(lam, mu, stein=True)
        if gap <= SPECTRAL_RTOL:
            raise ValueError(
                f"L, R: the stein displacement operator is singular: λ_{i}(L)·μ_{j}(R) = "
                f"{complex(lam[i] * mu[j])} = 1; the generators do not determine W"
            )
        return
    scale = max(1.0, float(lam.abs().max()), float(mu.abs().max()))
    if L.is_shift or R.is_shift:
        z, op, k, side = (mu, L, m, "R") if L.is_shift else (lam, R, n, "L")
        gaps = _dist_to_roots(z, op.phi, k)
        if float(gaps.min()) <= SPECTRAL_RTOL * scale:
            i = int(gaps.argmin())
            raise ValueError(
                f"L, R: L and R share an eigenvalue: {side} has {complex(z[i])}, also a {k}-th root of "
                f"{op.phi} (an eigenvalue of the shift); the generators do not determine W"
            )
        return
    gap, i, j = _min_pair_gap(lam, mu)
    if gap <= SPECTRAL_RTOL * scale:
        raise ValueError(
            f"L, R: L and R share an eigenvalue: λ_{i}(L) = {complex(lam[i])} and μ_{j}(R) = "
            f"{complex(mu[j])}; the generators do not determine W"
        )


# ---------------------------------------------------------------------------------- Krylov
class ShiftKrylov:
    """Products with the Krylov matrices K(A, g_k) of a shift operator A (size k), for r
    generators g (k×r), via FFT of length N = fast_len(2k − 1)."""

    def __init__(self, op: Op, gens: torch.Tensor, real: bool):
        self.op, self.k, self.real = op, gens.shape[0], real
        self.N = fast_len(2 * self.k - 1)
        g = gens.transpose(0, 1)  # (r, k)
        # K(Z_φ, g) = Z_φ(g); K(Z_φᵀ, g) = J Z_φ(J g)
        self.spec = spectrum(g if op.kind == "down" else g.flip(-1), self.N, real)

    def _fold(self, p: torch.Tensor) -> torch.Tensor:
        k = self.k
        y = p[..., :k]
        if self.op.phi != 0 and k > 1:
            y = y + self.op.phi * F.pad(p[..., k : 2 * k - 1], (0, 1))
        return y

    def apply_sum(self, v: torch.Tensor) -> torch.Tensor:
        """Σ_k K(A, g_k) v_k for v of shape (B, r, k) -> (B, k)."""
        acc = (self.spec * spectrum(v, self.N, self.real)).sum(dim=-2)
        y = self._fold(inverse_spectrum(acc, self.N, self.real))
        return y if self.op.kind == "down" else y.flip(-1)

    def apply_transposed(self, x: torch.Tensor) -> torch.Tensor:
        """[K(A, g_k)ᵀ x]_k for x of shape (B, k) -> (B, r, k).

        K(Z_φ, g)ᵀ = J Z_φ(g) J and K(Z_φᵀ, g)ᵀ = J Z_φ(J g) (a symmetric matrix)."""
        xx = x.flip(-1) if self.op.kind == "down" else x
        p = inverse_spectrum(self.spec * spectrum(xx, self.N, self.real)[:, None, :], self.N, self.real)
        return self._fold(p).flip(-1)


# ---------------------------------------------------------------------------------- kernels
def _ipow(z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """z ** e for integer-valued e ≥ 0 (real dtype), with 0 ** 0 = 1 also for complex z."""
    if z.is_complex():
        return torch.polar(z.abs() ** e, torch.angle(z) * e)
    return torch.pow(z, e)


class Kernel:
    """The middle factor Mid (rows × cols) of a reconstruction formula, evaluated in tiles.

    kind "cauchy": Mid[i, j] = 1/(s_i − t_j) (Sylvester) or 1/(1 − s_i t_j) (Stein).
    kind "power": Mid = A or Aᵀ (``transposed``) with, for nodes z (K of them), P powers and φ,
        Sylvester A[p, k] = sign · z_k^{P−1−p} / (φ − z_k^P),  Stein A[p, k] = z_k^p / (1 − φ z_k^P).
        Evaluated stably: for |z| > 1 (and for φ = 0 in the Sylvester form) through u = 1/z,
        A[p, k] = u^{p+1}/(φ u^P − 1) (Sylvester) or u^{P−p}/(u^P − φ) (Stein), so every power
        has modulus ≤ 1 unless the matrix itself is that large. A tile of rows p0 ≤ p < p1 is
        b^{E_min} · b^{(0..T−1)} (a table of T powers per node, computed once per product).
    """

    def __init__(self, kind: str, form: str, shape: tuple[int, int], dtype, *, s=None, t=None, z=None,
                 P: int = 0, phi=0.0, transposed: bool = False, sign: float = 1.0):
        self.kind, self.form, self.shape, self.dtype = kind, form, shape, dtype
        self.s, self.t = s, t
        self.transposed, self.sign, self.P, self.phi = transposed, sign, P, phi
        if kind == "power":
            self._prepare_power(z.to(dtype))

    def _prepare_power(self, z: torch.Tensor) -> None:
        P, phi, stein = self.P, self.phi, self.form == "stein"
        big = z.abs() > 1
        use_u = big if stein else (big | (phi == 0))
        if stein and phi == 0:
            use_u = torch.zeros_like(big)
        u = torch.where(use_u, 1 / torch.where(use_u, z, torch.ones_like(z)), z)
        rdt = z.real.dtype if z.is_complex() else z.dtype
        Pt = torch.tensor(float(P), dtype=rdt, device=z.device)
        uP = _ipow(u, Pt)
        if stein:
            den = torch.where(use_u, uP - phi, 1 - phi * uP)
            self.alpha = torch.where(use_u, Pt, torch.zeros_like(Pt))  # exponent at p = 0
            self.delta = torch.where(use_u, -1.0, 1.0).to(rdt)
        else:
            den = torch.where(use_u, phi * uP - 1, phi - uP)
            self.alpha = torch.where(use_u, torch.ones_like(Pt), Pt - 1)
            self.delta = torch.where(use_u, 1.0, -1.0).to(rdt)
        self.base = u
        self.scale = self.sign / den
        T = self.tile_rows(P, z.shape[0])
        self.table = _ipow(u[None, :], torch.arange(T, dtype=rdt, device=z.device)[:, None])  # (T, K)

    @staticmethod
    def tile_rows(P: int, K: int) -> int:
        return max(1, min(P, TILE_ENTRIES // max(1, K)))

    def _power_tile(self, p0: int, p1: int) -> torch.Tensor:
        T = p1 - p0
        # exponent E(p) = alpha + delta·p; its minimum over the tile is at p0 (delta = +1) or
        # p1 − 1 (delta = −1), and E(p) − E_min runs over 0..T−1 upwards or downwards
        e_min = torch.where(self.delta > 0, self.alpha + p0, self.alpha - (p1 - 1))
        head = _ipow(self.base, e_min) * self.scale  # (K,)
        tab = self.table[:T]
        tab = torch.where(self.delta[None, :] > 0, tab, tab.flip(0))
        return tab * head[None, :]

    def tiles(self):
        """Blocks (row slice, col slice, Mid[rows, cols]) partitioning Mid. A kernel that fits
        in one tile (m·n ≤ TILE_ENTRIES) is evaluated once and kept (the kernel depends on the
        fixed operators only, and ``LDR`` caches Kernel objects), larger ones are recomputed
        tile by tile on every product."""
        m, n = self.shape
        if m * n > TILE_ENTRIES:
            return self._generate_tiles()
        if getattr(self, "_kept", None) is None:
            self._kept = list(self._generate_tiles())
        return self._kept

    def _generate_tiles(self) -> Iterator[tuple[slice, slice, torch.Tensor]]:
        m, n = self.shape
        if self.kind == "cauchy":
            s, t = self.s.to(self.dtype), self.t.to(self.dtype)
            step = self.tile_rows(m, n)
            for i0 in range(0, m, step):
                si = s[i0 : i0 + step, None]
                blk = 1 / (1 - si * t[None, :]) if self.form == "stein" else 1 / (si - t[None, :])
                yield slice(i0, i0 + si.shape[0]), slice(0, n), blk
            return
        P, K = self.P, self.base.shape[0]
        step = self.tile_rows(P, K)
        for p0 in range(0, P, step):
            p1 = min(P, p0 + step)
            blk = self._power_tile(p0, p1)  # A[p0:p1, :]
            if self.transposed:
                yield slice(0, m), slice(p0, p1), blk.transpose(0, 1)
            else:
                yield slice(p0, p1), slice(0, n), blk

    def matmul(self, u: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
        """Mid u (u: (B, n) -> (B, m)) or Midᴴ u (u: (B, m) -> (B, n)), tile by tile."""
        m, n = self.shape
        out = u.new_zeros(u.shape[0], n if adjoint else m, dtype=torch.promote_types(u.dtype, self.dtype))
        for rs, cs, blk in self.tiles():
            if adjoint:
                out[:, cs] += u[:, rs] @ blk.conj()
            else:
                out[:, rs] += u[:, cs] @ blk.transpose(0, 1)
        return out


class _KernelProduct(torch.autograd.Function):
    """y = Mid u (or Midᴴ u) with a backward that recomputes the tiles instead of storing them."""

    @staticmethod
    def forward(ctx, u, kernel, adjoint):
        ctx.kernel, ctx.adjoint = kernel, adjoint
        return kernel.matmul(u, adjoint)

    @staticmethod
    def backward(ctx, grad):
        # y = M u  =>  grad_u = Mᴴ grad (torch's convention for complex); and vice versa
        return _KernelProduct.apply(grad, ctx.kernel, not ctx.adjoint), None, None


def kernel_product(kernel: Kernel, u: torch.Tensor) -> torch.Tensor:
    """Mid u for u of shape (B, n), memory O(tile) in forward and backward."""
    return _KernelProduct.apply(u, kernel, False)
