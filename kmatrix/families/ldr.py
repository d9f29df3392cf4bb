"""Matrices of low displacement rank (survey §4.5, Definition 4.2; Kailath–Kung–Morf [25]).

W (m×n) has displacement rank r with respect to operators L (m×m) and R (n×n) when

    Sylvester form:  L W − W R   = G Hᵀ,        or     Stein form:  W − L W R = G Hᵀ,

with generators G (m×r) and H (n×r). θ = (G, H): ``num_params`` = r(m + n). The operators are
fixed (buffers, not parameters) and chosen from {diag(d), Z, Zᵀ, Z_f, Z_fᵀ} with the conventions of
NOTES.md (Z[i, j] = 1 iff i = j − 1; Z_f = Zᵀ + f e_0 e_{n−1}ᵀ); their specification is described
in :mod:`kmatrix.families._ldr_ops` (``"Z"``, ``"Zt"``, ``("Zf", f)``, ``("Zft", f)``, ``("D", d)``).
The generators determine W only when the displacement map is invertible: L and R must have
disjoint spectra (Sylvester) and λ_i(L)·μ_j(R) ≠ 1 (Stein); otherwise the constructor raises.

Reconstruction formula (derived for these operators; checked against scipy's dense Sylvester
solver in the tests). Telescoping the displacement equation k times gives

    L^k W − W R^k = Σ_{j<k} L^{k−1−j} (G Hᵀ) R^j          (Sylvester)
    W − L^k W R^k = Σ_{j<k} L^j (G Hᵀ) R^j                (Stein),

and Σ_j L^{k−1−j} g hᵀ R^j = K(L, g) J K(Rᵀ, h)ᵀ with the Krylov matrices K(A, g) = [g, Ag, …,
A^{k−1}g] and J the reversal (without J in the Stein sum). A shift operator of size k satisfies
A^k = φ I (Z_φ^k = (Z_φᵀ)^k = φ I; φ = 0 for Z, Zᵀ), which closes the sum:

* both shifts (square, L^n = e I, R^n = f I):
  W = (e − f)^{-1} Σ_k K(L, g_k) J K(Rᵀ, h_k)ᵀ      (Sylvester; e.g. Toeplitz-like (Z_1, Z_{−1}))
  W = (1 − e f)^{-1} Σ_k K(L, g_k) K(Rᵀ, h_k)ᵀ      (Stein).
  K(Z_φ, g) is the φ-circulant Z_φ(g) with first column g, K(Z_φᵀ, g) = J Z_φ(J g): every factor is
  a φ-circulant product, one FFT convolution. Cost O(r n log n).
* L a shift (size m, L^m = e I), R = diag(t) (k = m):  W = Σ_k K(L, g_k) · M · diag(h_k) with
  M[i, j] = t_j^{m−1−i}/(e − t_j^m) (Sylvester) or t_j^i/(1 − e t_j^m) (Stein).
* L = diag(s), R a shift (size n, R^n = f I) (k = n):  W = Σ_k diag(g_k) · M · K(Rᵀ, h_k)ᵀ with
  M[i, j] = s_i^{n−1−j}/(s_i^n − f) (Sylvester; Vandermonde-like (D_a, Zᵀ)) or s_i^j/(1 − f s_i^n)
  (Stein).
* both diagonal: W = Σ_k diag(g_k) · C · diag(h_k), C[i, j] = 1/(s_i − t_j) (Sylvester;
  Cauchy-like) or 1/(1 − s_i t_j) (Stein).

Products. W x = Σ_k A_k M B_kᵀ x computed right to left for all k at once: B_kᵀ x (diagonal
scaling, or r φ-circulant convolutions by FFT), the middle factor M (a scalar times J or I for two
shifts; otherwise a Vandermonde- or Cauchy-type kernel evaluated in tiles of ≤ 2^20 entries, never
stored whole, not even for the backward pass), then Σ_k A_k v_k (diagonal scaling, or one FFT
convolution per k summed in the frequency domain before a single inverse FFT). With two diagonal
operators and no gradient needed, W itself is formed one tile at a time, W[rows] = (G[rows] Hᵀ) ∘
C[rows], and applied to the whole batch: O((r + B)·m·n) for B vectors instead of O(r·B·m·n). Kernels
of at most 2^20 entries are evaluated once and cached (they depend only on the fixed operators).
Cost: O(r n log n) with two shifts; O(r m n) when an operator is diagonal (the kernel product; the fast
Vandermonde/Cauchy algorithms would give O(r n log² n) but are numerically fragile, see the
Vandermonde and Cauchy families). Two shift operators need m = n; a diagonal operator allows any
m×n. Wᵀ is the LDR of (Rᵀ, Lᵀ) with generators (−H, G) (Sylvester) or (H, G) (Stein), so the
transpose uses the same code on the same θ.

flops (FFT convention of :mod:`kmatrix.families._fft`: F(N) = 5 N log2 N real flops for a complex
FFT of length N, half for a real one; P(N) = 6N or 6(⌊N/2⌋+1) for a pointwise product; a scalar
multiplication costs c_m = 1 (ℝ) or 6 (ℂ) flops and an addition c_a = 1 or 2), N = fast_len(2k − 1)
for a shift of size k:

    right factor  shift: (2r + 1)·F(N) + r·P(N) + r(n − 1)(c_m + c_a)[φ ≠ 0]     diag: r·n·c_m
    middle        shifts: r·n·c_m           kernel: r·(m·n·c_m + m(n − 1)·c_a)
    left factor   shift: (2r + 1)·F(N) + r·P(N) + (r − 1)·N_s·c_a + (m − 1)(c_m + c_a)[φ ≠ 0]
                  (N_s = spectrum length)                      diag: r·m·c_m + (r − 1)·m·c_a

(the generators' transforms are counted, as for Toeplitz; the kernel entries are functions of
the fixed operators and their evaluation — O(mn) powers or divisions — is not counted.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite
from ._fft import fast_len, fft_flops, pointwise_flops
from ._ldr_ops import (
    Kernel,
    Op,
    ShiftKrylov,
    apply_left,
    apply_right,
    check_solvable,
    kernel_product,
    operator_matrix,
    parse_operator,
)

__all__ = ["LDR"]

_FORMS = ("sylvester", "stein")


def _check_form(form: Any) -> str:
    if not isinstance(form, str) or form.lower() not in _FORMS:
        raise ValueError(f"form: expected 'sylvester' or 'stein', got {form!r}")
    return form.lower()


def _check_ldr(G, H, L: Op, Ld, R: Op, Rd, form: str) -> None:
    """Finite generators of equal rank, finite diagonals of the right lengths, an invertible
    displacement map (``check_solvable``): the constructor and ``LDR._check_parameters``
    (after load / dtype changes, where rounding can merge eigenvalues) both run this."""
    check_finite(G, "G")
    check_finite(H, "H")
    if G.shape[1] != H.shape[1]:
        raise ValueError(f"H: expected {G.shape[1]} columns (the rank r of G), got shape {tuple(H.shape)}")
    m, n = G.shape[0], H.shape[0]
    for name, d, size in (("L", Ld, m), ("R", Rd, n)):
        if d is not None:
            check_finite(d, name)
            if d.shape != (size,):
                raise ValueError(f"{name}: expected a diagonal of length {size} (from the generators), got shape {tuple(d.shape)}")
    check_solvable(L, Ld, m, R, Rd, n, form)


def make_kernel(L: Op, Ld, R: Op, Rd, form: str, m: int, n: int, dtype) -> Kernel | None:
    """The middle factor of the reconstruction formula when an operator is diagonal (None for
    two shifts, whose middle factor is a scalar times J or I)."""
    if L.is_shift and R.is_shift:
        return None
    if not L.is_shift and not R.is_shift:
        return Kernel("cauchy", form, (m, n), dtype, s=Ld, t=Rd)
    if L.is_shift:  # M = A(z=t, P=m, φ=e), m×n
        return Kernel("power", form, (m, n), dtype, z=Rd, P=m, phi=L.phi)
    # M = ∓A(z=s, P=n, φ=f)ᵀ: Sylvester s^{n−1−j}/(s^n − f) = −s^{n−1−j}/(f − s^n)
    return Kernel("power", form, (m, n), dtype, z=Ld, P=n, phi=R.phi, transposed=True,
                  sign=1.0 if form == "stein" else -1.0)


def _ldr_apply(G, H, L: Op, Ld, R: Op, Rd, form: str, x: torch.Tensor, kernel: Kernel | None = None) -> torch.Tensor:
    """W x for the LDR matrix (G, H, L, R, form); x: (B, n) -> (B, m). The formula of the module
    docstring, right to left. ``kernel``: a prebuilt (cached) middle factor, else built here."""
    m, n = G.shape[0], H.shape[0]
    real = not x.is_complex()
    dtype = x.dtype
    if not L.is_shift and not R.is_shift:
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (G, H, x))
        if kernel is None:
            kernel = make_kernel(L, Ld, R, Rd, form, m, n, dtype)
        if not needs_grad:
            return _cauchy_like_tiled(G, H, kernel, x)
    # right factor: u_k = B_kᵀ x, shape (B, r, ·)
    if R.is_shift:
        u = ShiftKrylov(R.transpose(), H, real).apply_transposed(x).to(dtype)  # K(Rᵀ, h_k)ᵀ x
    else:
        u = x[:, None, :] * H.transpose(0, 1)[None, :, :]
    # middle factor
    B, r = u.shape[0], u.shape[1]
    if L.is_shift and R.is_shift:
        c = 1 / (1 - L.phi * R.phi) if form == "stein" else 1 / (L.phi - R.phi)
        v = c * (u if form == "stein" else u.flip(-1))
    else:
        if kernel is None:
            kernel = make_kernel(L, Ld, R, Rd, form, m, n, dtype)
        v = kernel_product(kernel, u.reshape(B * r, -1)).reshape(B, r, m)
    # left factor: Σ_k A_k v_k
    if L.is_shift:
        return ShiftKrylov(L, G, real).apply_sum(v).to(dtype)  # .to: half precision FFTs run in single
    return (v * G.transpose(0, 1)[None, :, :]).sum(dim=1)


def _cauchy_like_tiled(G, H, ker: Kernel, x: torch.Tensor) -> torch.Tensor:
    """W x for two diagonal operators without autograd: W is formed one tile at a time,
    W[rows] = (G[rows] Hᵀ) ∘ C[rows] (C the Cauchy-type kernel), and applied to the whole batch,
    so a batch of B vectors costs O((r + B)·m·n) instead of O(r·B·m·n); memory O(tile)."""
    y = x.new_zeros(x.shape[0], G.shape[0])
    for rs, cs, blk in ker.tiles():
        y[:, rs] = x[:, cs] @ ((G[rs] @ H[cs].transpose(0, 1)) * blk).transpose(0, 1)
    return y


class LDR(StructuredMatrix):
    """W with L W − W R = G Hᵀ (``form="sylvester"``) or W − L W R = G Hᵀ (``form="stein"``).

    Parameters
    ----------
    G, H : (m, r) and (n, r) tensors — the generators, θ, stored as the ``nn.Parameter`` s
        ``gen_G`` and ``gen_H`` (``H`` is taken: it is the conjugate transpose of every
        StructuredMatrix); ``generators()`` returns (G, H).
    L, R : operator specs for the m×m left and n×n right operator: ``"Z"``, ``"Zt"``,
        ``("Zf", f)``, ``("Zft", f)``, ``("D", d)`` or a 1-d tensor d (Z[i, j] = 1 iff
        i = j − 1, Z_f = Zᵀ + f e_0 e_{n−1}ᵀ, D = diag(d)). Diagonals are stored as buffers
        ``L_diag`` / ``R_diag``.
    form : ``"sylvester"`` (default) or ``"stein"``.

    Notes
    -----
    Raises ValueError when the operators make the displacement map singular (shared eigenvalues
    for Sylvester, λ_i μ_j = 1 for Stein), or when both are shifts and m ≠ n.

    Presets: :meth:`toeplitz_like` (Z_1, Z_{−1}), :meth:`hankel_like` (Z_1, Z_{−1}ᵀ),
    :meth:`vandermonde_like` (D_a, Zᵀ), :meth:`cauchy_like` (D_s, D_t). :meth:`displacement`
    computes the residual of a dense matrix; :meth:`from_dense` recovers generators from it.
    Product cost and flops: ``help("kmatrix.families.ldr")`` (O(r n log n) for two shifts, O(r m n)
    otherwise).

    Examples
    --------
    A Toeplitz-like matrix: Z_1 W − W Z_{−1} = G Hᵀ with rank-2 generators.

    >>> n = 5
    >>> G, H = torch.randn(n, 2, dtype=torch.float64), torch.randn(n, 2, dtype=torch.float64)
    >>> W = kmatrix.LDR.toeplitz_like(G, H)
    >>> W.shape, W.num_params
    ((5, 5), 20)
    >>> E = kmatrix.LDR.displacement(W.to_dense(), ("Zf", 1.0), ("Zf", -1.0))
    >>> torch.allclose(E, G @ H.T)
    True
    """

    def __init__(self, G, H, L, R, form: str = "sylvester", dtype: torch.dtype | None = None):
        form = _check_form(form)
        G = as_tensor(G, "G", dtype=dtype, ndim=2)
        H = as_tensor(H, "H", dtype=dtype, ndim=2)
        m, n = G.shape[0], H.shape[0]
        Lop, Ld = parse_operator(L, "L", m)
        Rop, Rd = parse_operator(R, "R", n)
        _check_ldr(G, H, Lop, Ld, Rop, Rd, form)
        # one dtype for θ and the operators: promoted, or the given one (complex f needs complex)
        needs_complex = any(isinstance(op.phi, complex) for op in (Lop, Rop))
        if dtype is None:
            dtype = torch.promote_types(G.dtype, H.dtype)
            for d in (Ld, Rd):
                if d is not None and (d.is_floating_point() or d.is_complex()):
                    dtype = torch.promote_types(dtype, d.dtype)
            if needs_complex:
                dtype = torch.promote_types(dtype, torch.complex64)
        elif needs_complex and not dtype.is_complex:
            raise TypeError(f"dtype: operators with complex f need a complex dtype, got {dtype}")
        for name, d in (("L", Ld), ("R", Rd)):
            if d is not None and d.is_complex() and not dtype.is_complex:
                raise TypeError(f"{name}: a complex diagonal needs a complex dtype, got {dtype}")
        super().__init__((m, n), dtype, G.device)
        self.form = form
        self._L, self._R = Lop, Rop
        self.gen_G = nn.Parameter(G.to(dtype).clone())
        self.gen_H = nn.Parameter(H.to(dtype).clone())
        self.register_buffer("L_diag", None if Ld is None else Ld.to(dtype).clone())
        self.register_buffer("R_diag", None if Rd is None else Rd.to(dtype).clone())

    def _check_parameters(self):
        _check_ldr(self.gen_G, self.gen_H, self._L, self.L_diag, self._R, self.R_diag, self.form)

    # ------------------------------------------------------------------ presets
    @classmethod
    def toeplitz_like(cls, G, H, dtype=None) -> LDR:
        """Sylvester form with (L, R) = (Z_1, Z_{−1}): Toeplitz matrices have rank ≤ 2."""
        return cls(G, H, ("Zf", 1.0), ("Zf", -1.0), "sylvester", dtype)

    @classmethod
    def hankel_like(cls, G, H, dtype=None) -> LDR:
        """Sylvester form with (L, R) = (Z_1, Z_{−1}ᵀ): Hankel matrices have rank ≤ 2."""
        return cls(G, H, ("Zf", 1.0), ("Zft", -1.0), "sylvester", dtype)

    @classmethod
    def vandermonde_like(cls, G, H, a, form: str = "sylvester", dtype=None) -> LDR:
        """Vandermonde-like matrices, V[i, j] = a_i^j having displacement rank 1.

        ``form="sylvester"``: (L, R) = (diag(a), Zᵀ), diag(a) V − V Zᵀ = a^n e_{n−1}ᵀ (NOTES.md);
        nodes a_i = 0 are excluded (0 is Zᵀ's eigenvalue). Numerically poor for ``|a_i| < 1`` and
        large n: the generator a^n underflows while the kernel a_i^{−1−j} overflows (inf·0 = NaN
        for ``|a| ≲ 0.03`` at n = 200 in float64).
        ``form="stein"``: (L, R) = (diag(a), Z), V − diag(a) V Z = 1 e_0ᵀ; any nodes with
        node allowed (Z is nilpotent, λμ = 0 ≠ 1), the kernel is a_i^j itself: the stable choice for ``|a| ≤ 1``.
        """
        form = _check_form(form)
        return cls(G, H, ("D", a), "Zt" if form == "sylvester" else "Z", form, dtype)

    @classmethod
    def cauchy_like(cls, G, H, s, t, dtype=None) -> LDR:
        """Sylvester form with (L, R) = (diag(s), diag(t)): C[i, j] = 1/(s_i − t_j) has rank 1
        (G = H = ones); needs s_i ≠ t_j."""
        return cls(G, H, ("D", s), ("D", t), "sylvester", dtype)

    # ------------------------------------------------------------------ attributes
    def generators(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(G, H), the parameters themselves (gradients flow)."""
        return self.gen_G, self.gen_H

    @property
    def rank(self) -> int:
        """The displacement rank r (columns of the generators)."""
        return self.gen_G.shape[1]

    @property
    def L(self) -> Any:
        """The left operator's spec (canonical form)."""
        return self._L.spec(self.L_diag)

    @property
    def R(self) -> Any:
        """The right operator's spec (canonical form)."""
        return self._R.spec(self.R_diag)

    @property
    def flops(self) -> int:
        m, n = self.shape
        r, cplx = self.rank, self.is_complex
        real = not cplx
        cm, ca = (6, 2) if cplx else (1, 1)
        L, R = self._L, self._R
        total = 0.0
        if R.is_shift:
            N = fast_len(2 * n - 1)
            total += (2 * r + 1) * fft_flops(N, real) + r * pointwise_flops(N, real)
            total += r * (n - 1) * (cm + ca) if R.phi != 0 else 0
        else:
            total += r * n * cm
        if L.is_shift and R.is_shift:
            total += r * n * cm
        else:
            total += r * (m * n * cm + m * (n - 1) * ca)
        if L.is_shift:
            N = fast_len(2 * m - 1)
            Ns = N // 2 + 1 if real else N
            total += (2 * r + 1) * fft_flops(N, real) + r * pointwise_flops(N, real) + (r - 1) * Ns * ca
            total += (m - 1) * (cm + ca) if L.phi != 0 else 0
        else:
            total += r * m * cm + (r - 1) * m * ca
        return round(total)

    # ------------------------------------------------------------------ products
    def _kernel(self, transposed: bool) -> Kernel | None:
        """The middle factor for W or Wᵀ: it depends only on the fixed operators, so it is kept
        in the base class's derived-data cache while the diagonal buffers hold the same values
        (however they are written) and the dtype and device are unchanged."""
        if self._L.is_shift and self._R.is_shift:
            return None
        m, n = self.shape

        def build():
            if transposed:
                return make_kernel(self._R.transpose(), self.R_diag, self._L.transpose(), self.L_diag, self.form, n, m, self.dtype)
            return make_kernel(self._L, self.L_diag, self._R, self.R_diag, self.form, m, n, self.dtype)

        return self._derived(f"kernel{int(transposed)}", (self.L_diag, self.R_diag), build,
                             key=(self.dtype, self.device))

    def _matvec(self, x):
        return _ldr_apply(self.gen_G, self.gen_H, self._L, self.L_diag, self._R, self.R_diag, self.form, x,
                          self._kernel(False))

    def _rmatvec(self, y):
        # Sylvester: Rᵀ Wᵀ − Wᵀ Lᵀ = (−H) Gᵀ;  Stein: Wᵀ − Rᵀ Wᵀ Lᵀ = H Gᵀ
        Hs = self.gen_H if self.form == "stein" else -self.gen_H
        return _ldr_apply(Hs, self.gen_G, self._R.transpose(), self.R_diag, self._L.transpose(), self.L_diag,
                          self.form, y, self._kernel(True))

    def to_dense(self):
        """W by the reconstruction formula, applied to blocks of identity columns (memory
        O(r·N·block), never more than a few MB at a time besides W itself)."""
        m, n = self.shape
        block = max(1, min(n, (1 << 20) // max(1, self.rank * 2 * max(m, n))))
        cols = []
        for j0 in range(0, n, block):
            eye = torch.zeros(min(block, n - j0), n, dtype=self.dtype, device=self.device)
            eye[torch.arange(eye.shape[0]), j0 + torch.arange(eye.shape[0])] = 1
            cols.append(self._matvec(eye).transpose(0, 1))
        return torch.cat(cols, dim=1)

    def _merge_scale(self, scalar):
        return LDR(self.gen_G.detach() * scalar, self.gen_H.detach(), self.L, self.R, self.form)

    def _config(self):
        return {"G": self.gen_G.detach(), "H": self.gen_H.detach(), "L": self.L, "R": self.R, "form": self.form}

    def extra_repr(self) -> str:
        def show(op: Op, d):
            return f"D({d.shape[0]})" if op.kind == "diag" else repr(op.spec())

        return (
            f"{super().extra_repr()}, form={self.form}, L={show(self._L, self.L_diag)}, "
            f"R={show(self._R, self.R_diag)}, rank={self.rank}"
        )

    # ------------------------------------------------------------------ dense helpers
    @staticmethod
    def operator_matrix(spec, size: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The dense size×size matrix of an operator spec."""
        op, d = parse_operator(spec, "spec", size)
        if op.is_shift and isinstance(op.phi, complex) and not dtype.is_complex:
            dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        return operator_matrix(op, d, size, dtype)

    @staticmethod
    def displacement(W, L, R, form: str = "sylvester") -> torch.Tensor:
        """The residual L W − W R (Sylvester) or W − L W R (Stein) of a dense m×n matrix W,
        computed exactly for shifts (entries only move) and by scaling for diagonals; its rank is
        the displacement rank of W."""
        form = _check_form(form)
        W = as_tensor(W, "W", ndim=2)
        m, n = W.shape
        Lop, Ld = parse_operator(L, "L", m)
        Rop, Rd = parse_operator(R, "R", n)
        dt = W.dtype
        for op, d in ((Lop, Ld), (Rop, Rd)):
            if d is not None:
                dt = torch.promote_types(dt, d.dtype)
            if isinstance(op.phi, complex):
                dt = torch.promote_types(dt, torch.complex64)
        W = W.to(dt)
        if form == "sylvester":
            return apply_left(Lop, Ld, W) - apply_right(W, Rop, Rd)
        return W - apply_right(apply_left(Lop, Ld, W), Rop, Rd)

    @classmethod
    def from_dense(cls, M, L, R, form: str = "sylvester", rank: int | None = None,
                   rtol: float | None = None) -> LDR:
        """Generators of a dense M from the SVD of its displacement E = U S Vᴴ: G = U_r S_r^{1/2},
        H = (S_r^{1/2} Vᴴ_r)ᵀ, so G Hᵀ is the best rank-r approximation of E. r = ``rank`` if given,
        else the number of singular values above ``rtol``·σ_max (default rtol = 100·max(m, n)·ε
        of M's dtype), at least 1. Exact (to rounding) when M has displacement rank ≤ r."""
        M = as_tensor(M, "M", ndim=2)
        check_finite(M, "M")
        E = cls.displacement(M, L, R, form)
        U, S, Vh = torch.linalg.svd(E, full_matrices=False)
        if rank is None:
            if rtol is None:
                rtol = 100 * max(E.shape) * torch.finfo(E.dtype).eps
            smax = float(S[0]) if S.numel() else 0.0
            rank = max(1, int((S > rtol * smax).sum()))
        elif isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank: expected a positive integer, got {rank!r}")
        rank = min(rank, S.shape[0])
        sq = S[:rank].sqrt().to(E.dtype)
        G = U[:, :rank] * sq[None, :]
        H = Vh[:rank].transpose(0, 1) * sq[None, :]
        return cls(G, H, L, R, form)


@register_rule("add", LDR, LDR)
def _ldr_add(a, b):
    """Same operators and form: generators concatenate (displacement ranks add)."""
    if a.form != b.form or a._L != b._L or a._R != b._R:
        return None
    for x, y in ((a.L_diag, b.L_diag), (a.R_diag, b.R_diag)):
        if (x is None) != (y is None) or (x is not None and not torch.equal(x, y)):
            return None
    return LDR(
        torch.cat([a.gen_G.detach(), b.gen_G.detach()], dim=1),
        torch.cat([a.gen_H.detach(), b.gen_H.detach()], dim=1),
        a.L, a.R, a.form,
    )
