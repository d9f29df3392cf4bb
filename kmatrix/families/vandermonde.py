"""Vandermonde matrices V[i, j] = a_i^j (survey Def 2.6): θ = the m nodes a, n columns.

Two products, selectable by ``method``:

* ``"fast"``: V x is the evaluation of p(z) = Σ_j x_j z^j at the nodes — multipoint evaluation
  by a subproduct tree and a remainder tree with FFT polynomial products and Newton-iteration
  division (``_polynomial``), O(n log² n); Vᵀ y is its transpose, step by step (transposition
  principle, Thm 3.10), same cost and accuracy.
* ``"direct"``: O(mn), chunked over columns: the block of powers a_i^{j0..j0+c−1} is built by
  repeated multiplication and applied with a matrix product, so memory stays O(m·c) (c chosen
  so that m·c ≤ 2^21), also in the backward pass (a custom autograd function whose backward
  is again a chunked Vandermonde product: ∂(Vx)_i/∂a_i = p'(a_i)).

``"auto"`` (default) is the direct path (the measurements in the class docstring).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite, check_positive_int
from . import _polynomial as poly
from ._fast_accuracy import warn_if_inaccurate

__all__ = ["Vandermonde"]

#: the direct path keeps at most this many powers a_i^j in memory at once
DIRECT_CHUNK_ELEMS = 1 << 21
METHODS = ("auto", "fast", "direct")


# ---------------------------------------------------------------------- the direct path
def _power_chunks(a: torch.Tensor, n: int):
    """Yield (j0, P) with P[i, k] = a_i^{j0+k}, k < width, covering j = 0..n−1 in chunks."""
    m = a.shape[0]
    c = max(1, min(n, DIRECT_CHUNK_ELEMS // max(m, 1)))
    ones = torch.ones(m, 1, dtype=a.dtype, device=a.device)
    P = torch.cumprod(torch.cat([ones, a.unsqueeze(1).expand(m, c - 1)], dim=1), dim=1)
    step = P[:, -1] * a  # a^c
    for j0 in range(0, n, c):
        w = min(c, n - j0)
        yield j0, P[:, :w]
        if j0 + c < n:
            P = P * step.unsqueeze(1)


def _direct_matvec(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y = V x for x (B, n): y_i = Σ_j x_j a_i^j, O(mn), memory O(m·chunk)."""
    y = torch.zeros(x.shape[0], a.shape[0], dtype=x.dtype, device=x.device)
    for j0, P in _power_chunks(a, x.shape[1]):
        y.addmm_(x[:, j0 : j0 + P.shape[1]], P.transpose(0, 1))
    return y


def _direct_rmatvec(a: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """u = Vᵀ y for y (B, m): u_j = Σ_i y_i a_i^j, O(mn)."""
    u = torch.empty(y.shape[0], n, dtype=y.dtype, device=y.device)
    for j0, P in _power_chunks(a, n):
        u[:, j0 : j0 + P.shape[1]] = y @ P
    return u


def _derivative(c: torch.Tensor) -> torch.Tensor:
    """Coefficients of p' for p with coefficients c (B, n): (j+1)·c_{j+1}, shape (B, n−1)."""
    j = torch.arange(1, c.shape[1], device=c.device, dtype=c.real.dtype if c.is_complex() else c.dtype)
    return c[:, 1:] * j


class _DirectMatvec(torch.autograd.Function):
    """y = V(a) x; backward: x̄ = Vᴴ ȳ = V(ā)ᵀ ȳ, ā_i = Σ_b conj(p_b'(a_i)) ȳ_{b,i}."""

    @staticmethod
    def forward(ctx, a, x):
        ctx.save_for_backward(a, x)
        return _direct_matvec(a, x)

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        ga = gx = None
        ac = a.conj()
        if ctx.needs_input_grad[1]:
            gx = _DirectRmatvec.apply(ac, g, x.shape[1])
        if ctx.needs_input_grad[0]:
            if x.shape[1] == 1:
                ga = torch.zeros_like(a)
            else:
                ga = (_DirectMatvec.apply(ac, _derivative(x).conj()) * g).sum(0)
        return ga, gx


class _DirectRmatvec(torch.autograd.Function):
    """u = V(a)ᵀ y; backward: ȳ = conj(V) ū, ā_i = Σ_b conj(y_{b,i}) (V(ā) D ū_b)_i with D the
    derivative of the coefficient vector."""

    @staticmethod
    def forward(ctx, a, y, n):
        ctx.save_for_backward(a, y)
        return _direct_rmatvec(a, y, n)

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved_tensors
        ga = gy = None
        ac = a.conj()
        if ctx.needs_input_grad[1]:
            gy = _DirectMatvec.apply(ac, g)
        if ctx.needs_input_grad[0]:
            if g.shape[1] == 1:
                ga = torch.zeros_like(a)
            else:
                ga = (y.conj() * _DirectMatvec.apply(ac, _derivative(g))).sum(0)
        return ga, gy, None


# ---------------------------------------------------------------------- flops of the fast path
@functools.lru_cache(maxsize=256)
def fast_flops(m: int, n: int, is_complex: bool) -> int:
    """Real flops of one fast product V x (tree included), counted by running the
    implementation on dummy nodes under ``_polynomial.FlopCounter`` (the count does not depend
    on the node values)."""
    dt = torch.complex128 if is_complex else torch.float64
    nodes = torch.linspace(-1, 1, m, dtype=torch.float64).to(dt)
    x = torch.zeros(1, n, dtype=dt)
    with torch.no_grad(), poly.FlopCounter() as fc:
        poly.multipoint_evaluate(nodes, x)
    return fc.flops


class Vandermonde(StructuredMatrix):
    """V[i, j] = a_i^j, 0 ≤ i < m, 0 ≤ j < n (survey Def 2.6); θ = the nodes a (real or
    complex, learnable). V x = (p(a_0), …, p(a_{m−1})) for p(z) = Σ_j x_j z^j.

    Parameters
    ----------
    nodes : tensor (m,), real or complex, finite
        Repeated nodes are *allowed*: the survey asks for distinct nodes so that V (square) is invertible (Fact 2.7), but the product
        and both algorithms are well defined without it, and a learnable θ must not make
        training fail when two nodes meet. (Cauchy, whose entries blow up, does raise.)
    n : int
        The number of columns (positive).
    method : ``"auto"``, ``"fast"`` or ``"direct"``

    Notes
    -----
    Products and cost (real flops of one matrix-vector product):

    * direct: m(2n−1) for the dot products + m(n−1) to generate the powers = m(3n−2) over ℝ;
      over ℂ 8mn − 2m + 6m(n−1). Normwise error: the worst-case bound is ~n·ε
      (powers by repeated multiplication have relative error ≤ jε; Horner's bound is 2nε);
      measured 3.7e-17 … 5.3e-16 on the cases below (n = 2^6 … 2^14).
    * fast: multipoint evaluation (subproduct / remainder tree), with
      L = next_pow2(min(m, n)): tree O(m log² L), per vector O((m + n) log² L). Counted from
      the implementation (``fast_flops``, tree included): for m = n ≈ 74·n·log2²(n) over ℂ
      (n = 2^14: 2.3e8, vs 3.8e9 for the direct path) and ≈ 37·n·log2²(n) over ℝ.

    Measured accuracy (``kmatrix bench vandermonde_accuracy``: m = n, float64/complex128,
    x ~ N(0, 1), error ``‖ŷ − y‖ / ‖|V| |x|‖`` on 64 sampled rows against mpmath at 50 digits;
    G = the tree's growth indicator; "ovf" = overflow to inf/nan; Vᵀ y behaves the same)::

        nodes             path     2^6      2^8      2^10     2^12     2^14
        roots of unity    fast     1.5e-16  2.9e-16  6.0e-16  1.3e-15  2.4e-15   G = 2
                          direct   5.8e-17  5.8e-17  6.3e-17  8.3e-17  3.3e-16
        random on |z|=1   fast     1.3e-15  9.7e+06  3.2e+37  3e+116   ovf       G = 2e3 … inf
                          direct   5.0e-17  5.1e-17  4.8e-17  8.8e-17  3.1e-16
        Chebyshev [-1,1]  fast     5.2e-07  5.1e+50  ovf      ovf      ovf       G = 2e8 … inf
                          direct   7.3e-17  3.7e-17  6.7e-17  8.1e-17  5.3e-16
        random [-1,1]     fast     5.6e-10  1.6e+42  ovf      ovf      ovf       G = 3e6 … inf
                          direct   5.8e-17  6.7e-17  1.5e-16  5.0e-17  9.0e-17

    (Monomial coefficients of the subtree products grow like ~1.2^d for real nodes and the
    inverse series 1/Π(1 − a_i z) — with poles on or inside the unit circle — amplify that;
    for roots of unity every subtree product is a binomial z^d − c.)

    (Measured again on the sizes that are not powers of two, roots of unity, ``kmatrix bench
    vandermonde_accuracy --sizes 1000 1200 1300 1500 3000``: fast 7.7e-16 … 2.7e-15 with G up
    to 2.6e2 from the padding leaves, direct 4.4e-17 … 6.9e-17.)

    Default (``"auto"``): the direct path, always. The rule is that auto stays within 10× of
    the direct path's error, and on every case above (and on those of ``kmatrix bench
    vandermonde_accuracy``) the fast path's error is 2.6× (n = 64) to 50× the direct one even
    with G = 2, above 10× at most sizes from 1024 on (7× at 2^14). Speed (float64, batch 1, complex roots of unity,
    this shared 2-core machine, noisy): fast / direct = 7.7× slower at n = 2^10, equal at
    2^12, 6× faster at 2^14 — so for n ≳ 2^13 ``method="fast"`` trades ~10× the error for
    time. ``method="fast"`` forces the fast path and warns with ``kmatrix.AccuracyWarning``
    when G > 1e6 (``_fast_accuracy.FAST_WARN_GROWTH``; there the result may be meaningless:
    measured errors up to 1e40 and overflow).

    Examples
    --------
    >>> V = kmatrix.Vandermonde(torch.tensor([1.0, 2.0, 3.0]), 4)
    >>> V.to_dense().tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 4.0, 8.0], [1.0, 3.0, 9.0, 27.0]]
    >>> V(torch.tensor([1.0, 1.0, 1.0, 1.0])).tolist()   # p(z) = 1 + z + z² + z³ at the nodes
    [4.0, 15.0, 40.0]
    """

    def __init__(self, nodes, n: int, method: str = "auto", dtype: torch.dtype | None = None):
        nodes = as_tensor(nodes, "nodes", dtype=dtype, ndim=1)
        check_finite(nodes, "nodes")
        n = check_positive_int(n, "n")
        if method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
        super().__init__((nodes.shape[0], n), nodes.dtype, nodes.device)
        self.nodes = nn.Parameter(nodes.clone())
        self.method = method

    # ------------------------------------------------------------------ path selection
    def _plan(self) -> tuple[poly.Plan, float]:
        """The subproduct forest of the current nodes and its growth indicator, through the
        base class's derived-data cache (reused while the nodes hold the same values, however
        they are written; rebuilt under autograd so that gradients reach the nodes)."""

        def build():
            plan = poly.Plan(self.nodes, self.shape[1])
            return plan, plan.growth()

        return self._derived("plan", (self.nodes,), build, key=self.shape[1])

    def resolve_method(self) -> str:
        """The path the next product will take (``"fast"`` or ``"direct"``): ``"fast"`` only
        for ``method="fast"`` (``"auto"`` is the direct path; see the class docstring)."""
        return "fast" if self.method == "fast" else "direct"

    def growth(self) -> float:
        """The growth indicator G of the fast path for the current nodes (``Plan.growth``)."""
        with torch.no_grad():
            return self._plan()[1]

    def _choose(self) -> tuple[str, poly.Plan | None]:
        if self.method != "fast":
            return "direct", None
        plan, growth = self._plan()
        warn_if_inaccurate("Vandermonde", growth)
        return "fast", plan

    # ------------------------------------------------------------------ products
    def _matvec(self, x):
        path, plan = self._choose()
        if path == "fast":
            return poly.multipoint_evaluate(self.nodes, x, plan)
        return _DirectMatvec.apply(self.nodes, x)

    def _rmatvec(self, y):
        path, plan = self._choose()
        if path == "fast":
            return poly.transposed_multipoint_evaluate(self.nodes, y, self.shape[1], plan)
        return _DirectRmatvec.apply(self.nodes, y, self.shape[1])

    def to_dense(self):
        m, n = self.shape
        ones = torch.ones(m, 1, dtype=self.dtype, device=self.device)
        return torch.cumprod(torch.cat([ones, self.nodes.unsqueeze(1).expand(m, n - 1)], dim=1), dim=1)

    # ------------------------------------------------------------------ bookkeeping
    @property
    def flops(self) -> int:
        m, n = self.shape
        if self.resolve_method() == "fast":
            return fast_flops(m, n, self.is_complex)
        if self.is_complex:
            return m * (8 * n - 2) + 6 * m * (n - 1)
        return m * (2 * n - 1) + m * (n - 1)

    def _config(self):
        return {"nodes": self.nodes.detach(), "n": self.shape[1], "method": self.method}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", method={self.method}"
