"""Cauchy matrices C[i, j] = 1/(s_i − t_j) (survey Def 4.3): θ = (s, t), m + n scalars.

Two products, selectable by ``method``:

* ``"fast"`` (exact algorithm, O((m + n) log² n)): C x = N(s)/T(s) with
  T(z) = Π_j (z − t_j) and N(z) = Σ_j x_j Π_{k≠j}(z − t_k), N from a tree of fractions over the
  t_j (``_polynomial.fraction_sum``), then N and T evaluated at the s_i by multipoint
  evaluation (``_polynomial.multipoint_evaluate``).
* ``"direct"``: O(mn), chunked over columns (the block 1/(s_i − t_j) of c columns is formed and
  applied with a matrix product; memory O(m·c), m·c ≤ 2^21), with a custom autograd function
  whose backward is again a chunked Cauchy-like product (kernel 1/(s − t)^p, p = 2).

Cᵀ = −Cauchy(t, s) gives the native transpose (same two paths, arguments swapped).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_distinct, check_finite
from . import _polynomial as poly
from ._fast_accuracy import warn_if_inaccurate

__all__ = ["Cauchy"]

#: the direct path keeps at most this many kernel entries in memory at once
DIRECT_CHUNK_ELEMS = 1 << 21
METHODS = ("auto", "fast", "direct")


# ---------------------------------------------------------------------- validation
def check_cauchy_nodes(s: torch.Tensor, t: torch.Tensor) -> None:
    """Raise ValueError naming the argument and indices when s or t holds NaN / infinity,
    repeats a value or some s_i == t_j (exact equality; O((m + n) log(m + n)) time, O(m + n)
    memory). The constructor and ``Cauchy._check_parameters`` (after load / dtype changes)."""
    check_finite(s, "s")
    check_finite(t, "t")
    check_distinct(s, "s")
    check_distinct(t, "t")
    where_t = {}
    for j, z in enumerate(t.detach().cpu().tolist()):
        where_t.setdefault(z, j)
    for i, z in enumerate(s.detach().cpu().tolist()):
        if z in where_t:
            raise ValueError(
                f"s, t: expected s_i != t_j for all i, j (C[i, j] = 1/(s_i - t_j)), "
                f"but s[{i}] == t[{where_t[z]}] == {z}"
            )


# ---------------------------------------------------------------------- the direct path
def _kernel_apply(s: torch.Tensor, t: torch.Tensor, x: torch.Tensor, p: int) -> torch.Tensor:
    """y_i = Σ_j x_j / (s_i − t_j)^p for x (B, n), chunked over j."""
    m, n = s.shape[0], t.shape[0]
    c = max(1, min(n, DIRECT_CHUNK_ELEMS // max(m, 1)))
    y = torch.zeros(x.shape[0], m, dtype=x.dtype, device=x.device)
    for j0 in range(0, n, c):
        K = (s.unsqueeze(1) - t[j0 : j0 + c].unsqueeze(0)).reciprocal_()
        if p > 1:
            K = K.pow_(p)
        y.addmm_(x[:, j0 : j0 + K.shape[1]], K.transpose(0, 1))
    return y


class _KernelMatvec(torch.autograd.Function):
    """y = K_p(s, t) x with K_p[i, j] = (s_i − t_j)^{−p}. Backward (K_pᵀ(s, t) = (−1)^p K_p(t, s)):
    x̄ = (−1)^p K_p(t̄, s̄) ȳ, s̄ = −p Σ_b conj(K_{p+1}(s, t) x_b) ∘ ȳ_b,
    t̄ = p (−1)^{p+1} Σ_b conj(x_b) ∘ K_{p+1}(t̄, s̄) ȳ_b — again kernel products, so double
    backward works too."""

    @staticmethod
    def forward(ctx, s, t, x, p):
        ctx.save_for_backward(s, t, x)
        ctx.p = p
        return _kernel_apply(s, t, x, p)

    @staticmethod
    def backward(ctx, g):
        s, t, x = ctx.saved_tensors
        p = ctx.p
        sc, tc = s.conj(), t.conj()
        gs = gt = gx = None
        sign = -1 if p % 2 else 1
        if ctx.needs_input_grad[2]:
            gx = sign * _KernelMatvec.apply(tc, sc, g, p)
        if ctx.needs_input_grad[0]:
            gs = -p * (_KernelMatvec.apply(sc, tc, x.conj(), p + 1) * g).sum(0)
        if ctx.needs_input_grad[1]:
            gt = (-sign * p) * (x.conj() * _KernelMatvec.apply(tc, sc, g, p + 1)).sum(0)
        return gs, gt, gx, None


# ---------------------------------------------------------------------- the fast path
class CauchyPlan:
    """Everything about C(s, t) that does not depend on the vector: the subproduct tree over
    the poles t, the multipoint evaluation plan at the points s, and T(s_i) = Π_j (s_i − t_j).

    Padding to L = next_pow2(n) leaves: the padding poles are copies of spread-out t_j (with
    weight 0). Their factors appear in both N and T and cancel in N(s_i)/T(s_i); being copies
    of poles they can never coincide with an s_i (validated), and being spread like t they keep
    the magnitude of T(s_i) regular. (A single padding pole p, e.g. 0, multiplies T(s_i) by
    (s_i − p)^{L−n}: with |s_i| = 0.8 and 424 pads that is 1e-41, and the ratio loses all
    accuracy.)"""

    def __init__(self, s: torch.Tensor, t: torch.Tensor):
        self.s, self.n = s, t.shape[0]
        self.L = L = poly.next_pow2(self.n)
        src, self.pos = poly.leaf_layout(t, 1, L, duplicate_pads=True)
        leaves = t[src]
        pad = torch.ones(L, dtype=torch.bool, device=t.device)
        pad[self.pos] = False
        leaves = torch.where(pad, leaves.detach(), leaves)
        self.tree = poly.SubproductTree(leaves.reshape(1, L))
        self.splan = poly.Plan(s, L)
        T_low = self.tree.low[-1][0]  # (1, L): T(z) = z^L + T_low(z)
        sL = s
        for _ in range(L.bit_length() - 1):
            sL = sL * sL
        poly._tally(s.numel() * (L.bit_length() - 1 + 1) * (6 if s.is_complex() else 1))
        self.Ts = poly.multipoint_evaluate(s, T_low, self.splan)[0] + sL

    def growth(self) -> float:
        """max(G over the t-tree, G over the s-plan, (1 + ‖T − z^L‖₁)·max_i ``1/|T(s_i)|``): the
        last factor is the conditioning of the final division N(s_i)/T(s_i)."""
        with torch.no_grad():
            T_low = self.tree.low[-1].detach()
            div = float((1 + T_low.abs().sum()) / self.Ts.detach().abs().min())
            G = max(self.tree.growth(), self.splan.growth(), div)
        return G if math.isfinite(G) else math.inf

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """C x for x (B, n): N from the tree of fractions, evaluated at s, divided by T(s)."""
        leaves = torch.zeros(x.shape[0], self.L, dtype=x.dtype, device=x.device)
        N = self.tree.fraction_numerators(leaves.index_copy(1, self.pos, x))[:, 0]
        y = poly.multipoint_evaluate(self.s, N, self.splan) / self.Ts
        poly._tally(y.numel() * (6 if y.is_complex() else 1))
        return y


def fast_cauchy_matvec(s: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y = C x, y_i = Σ_j x_j/(s_i − t_j) = N(s_i)/T(s_i), for x (B, n) → (B, m).

    Cost: tree over t and evaluation plan at s, O((m + n) log² n) once; then per vector the
    tree of fractions O(n log² n) and the multipoint evaluation O((m + n) log² n)."""
    return CauchyPlan(s, t).apply(x)


@functools.lru_cache(maxsize=256)
def fast_flops(m: int, n: int, is_complex: bool) -> int:
    """Real flops of one fast product C x (trees included), counted by running the
    implementation on dummy nodes under ``_polynomial.FlopCounter``."""
    dt = torch.complex128 if is_complex else torch.float64
    s = torch.linspace(-1, 1, m, dtype=torch.float64).to(dt)
    t = (torch.linspace(-1, 1, n, dtype=torch.float64) + 3.0).to(dt)
    with torch.no_grad(), poly.FlopCounter() as fc:
        fast_cauchy_matvec(s, t, torch.zeros(1, n, dtype=dt))
    return fc.flops


class Cauchy(StructuredMatrix):
    """C[i, j] = 1/(s_i − t_j), 0 ≤ i < m, 0 ≤ j < n (survey Def 4.3); θ = (s, t), learnable,
    real or complex. Raises ValueError when s or t has a repeated entry or some s_i == t_j.

    Products and cost (real flops of one matrix-vector product)
    -----------------------------------------------------------
    * direct: per entry one subtraction, one reciprocal, one multiply-add: m(4n − 1) over ℝ;
      over ℂ (reciprocal ``z̄/|z|²`` = 5 flops) 15mn − 2m. Normwise error: the
      worst-case bound is ~n·ε; measured 6e-17 … 1.4e-15 on the cases below (n = 2^6 … 2^14).
    * fast: exact algorithm N(s)/T(s) (``help("kmatrix.families.cauchy")``), O((m + n) log² n);
      flops counted from the implementation (``fast_flops``, trees included): for m = n ≈
      82·n·log2²(n) over ℝ and ≈ 166·n·log2²(n) over ℂ (n = 2^14: 5.3e8 vs 4.0e9 for the direct
      path; the direct path needs fewer flops up to n = 2^11 over ℝ, 2^10 over ℂ).

    Measured accuracy (``kmatrix bench cauchy_accuracy``: m = n, float64/complex128,
    x ~ N(0, 1), error ``‖ŷ − y‖ / ‖|C| |x|‖`` on 64 sampled entries against mpmath at 50 digits;
    "ovf" = overflow to nan; Cᵀ y behaves the same)::

        s, t                  path     2^6      2^8      2^10     2^12     2^14
        interleaved |z|=1     fast     4.3e-16  1.4e-15  5.2e-15  1.7e-14  6.1e-14   G = 2
        (ω^i, ω^(j+1/2))      direct   1.0e-16  1.2e-16  1.8e-16  1.4e-16  8.6e-17
        random on |z|=1       fast     5.6e-02  9.8e-01  8.7e-01  9.5e-01  ovf       G ≥ 1e15
                              direct   1.8e-16  1.3e-16  1.4e-15  6.3e-16  4.3e-16
        interleaved Chebyshev fast     6.2e-01  5.9e-01  ovf      ovf      ovf       G ≥ 5e16
                              direct   8.1e-17  5.9e-17  2.3e-16  2.6e-16  6.4e-17
        random [-1,1]         fast     8.7e-01  6.7e-01  ovf      ovf      ovf       G ≥ 1e19
                              direct   1.2e-16  3.6e-16  3.5e-16  3.6e-16  1.2e-16

    The exact algorithm works in the monomial basis: T(s_i) = Π_j (s_i − t_j) spans hundreds
    of orders of magnitude unless the nodes are FFT-like, and the evaluation trees inherit the
    Vandermonde instability (see ``Vandermonde``). G is ``CauchyPlan.growth``: the larger of
    the two trees' growth indicators and the conditioning (1 + ‖T − z^L‖₁)/min_i ``|T(s_i)|`` of
    the final division.

    At sizes that are not powers of two the padding poles make G = 1.8e2 … 7.5e2 on the
    interleaved circle nodes and the fast error grows: n = 1000, 1200, 1300, 1500, 3000 gave
    1.6e-14 … 2.1e-13 (Cᵀ up to 1.5e-13) against 1.5e-16 … 3.8e-16 direct (``kmatrix bench
    cauchy_accuracy --sizes 1000 1200 1300 1500 3000``).

    Default (``"auto"``): the direct path, always. The rule is that auto stays within 10× of
    the direct path's error; on every measured case with n ≥ 256 the fast path is 13× (n =
    256) to 1000× (n = 3000) less accurate, even for the best nodes (G = 2). (It used to take
    the fast path for n ≥ 1024 and G ≤ 1e3, which gave 1.5e-13 at n = 1200 against 2.8e-16.)
    Speed (float64 nodes on the circle, batch 1, this shared 2-core machine, noisy): the fast
    path is 11× slower than the direct one at n = 2^10, 3× slower at 2^12 and faster from
    ~2^13 on (2^14: 0.06 s with the plan cached vs 10 s). ``method="fast"`` forces the fast
    path and warns with ``kmatrix.AccuracyWarning`` when G > 1e6
    (``_fast_accuracy.FAST_WARN_GROWTH``; there the result may be meaningless: the table's
    errors of order 1 and overflows all have G ≥ 1e15).

    Examples
    --------
    >>> C = kmatrix.Cauchy(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.5, -1.0]), dtype=torch.float64)
    >>> [[f"{v:.4f}" for v in row] for row in C.to_dense().tolist()]
    [['1.0000', '2.0000', '0.5000'], ['0.5000', '0.6667', '0.3333']]
    """

    def __init__(self, s, t, method: str = "auto", dtype: torch.dtype | None = None):
        s = as_tensor(s, "s", dtype=dtype, ndim=1)
        t = as_tensor(t, "t", dtype=dtype, ndim=1)
        common = torch.promote_types(s.dtype, t.dtype)
        s, t = s.to(common), t.to(common)
        check_cauchy_nodes(s, t)
        if method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
        super().__init__((s.shape[0], t.shape[0]), common, s.device)
        self.s = nn.Parameter(s.clone())
        self.t = nn.Parameter(t.clone())
        self.method = method

    # ------------------------------------------------------------------ path selection
    def _plan(self, transposed: bool) -> tuple[CauchyPlan, float]:
        """The fast path's plan for C (or for Cᵀ = −C(t, s)) and its growth indicator, through
        the base class's derived-data cache (reused while s and t hold the same values)."""
        s, t = (self.t, self.s) if transposed else (self.s, self.t)

        def build():
            plan = CauchyPlan(s, t)
            return plan, plan.growth()

        return self._derived(f"plan{int(transposed)}", (s, t), build)

    def _choose(self, transposed: bool = False) -> tuple[str, CauchyPlan | None]:
        if self.method != "fast":
            return "direct", None
        plan, growth = self._plan(transposed)
        warn_if_inaccurate("Cauchy", growth)
        return "fast", plan

    def resolve_method(self) -> str:
        """The path the next product takes (``"fast"`` or ``"direct"``): ``"fast"`` only for
        ``method="fast"`` (``"auto"`` is the direct path; see the class docstring)."""
        return "fast" if self.method == "fast" else "direct"

    def growth(self) -> float:
        """The fast path's growth indicator for the current s, t (``CauchyPlan.growth``)."""
        with torch.no_grad():
            return self._plan(False)[1]

    # ------------------------------------------------------------------ products
    def _matvec(self, x):
        path, plan = self._choose()
        if path == "fast":
            return plan.apply(x)
        return _KernelMatvec.apply(self.s, self.t, x, 1)

    def _rmatvec(self, y):
        # Cᵀ = −Cauchy(t, s)
        path, plan = self._choose(transposed=True)
        if path == "fast":
            return -plan.apply(y)
        return -_KernelMatvec.apply(self.t, self.s, y, 1)

    def to_dense(self):
        return (self.s.unsqueeze(1) - self.t.unsqueeze(0)).reciprocal()

    @property
    def flops(self) -> int:
        m, n = self.shape
        if self.resolve_method() == "fast":
            return fast_flops(m, n, self.is_complex)
        return 15 * m * n - 2 * m if self.is_complex else m * (4 * n - 1)

    def _check_parameters(self):
        check_cauchy_nodes(self.s, self.t)

    def _config(self):
        return {"s": self.s.detach(), "t": self.t.detach(), "method": self.method}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", method={self.method}"
