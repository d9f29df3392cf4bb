"""Fast polynomial arithmetic for the Vandermonde and Cauchy families (private).

Polynomials are coefficient tensors in ascending order on the last dimension
(``p[..., k]`` is the coefficient of z^k), batched over all leading dimensions (which
broadcast). Everything is plain differentiable torch, so autograd gives gradients with
respect to both coefficients and nodes.

Routines
--------
``conv(a, b, out_len)``
    Product of polynomials, truncated/padded to ``out_len`` coefficients: direct for short
    factors, otherwise by FFT convolution (``rfft`` for real data) of size the next power of
    two ≥ len(a) + len(b) − 1.
``SubproductTree(leaves)``
    For ``nb`` blocks of L = 2^k leaves a_0..a_{L−1} (a forest: one tree per block), the
    monic products f_v = Π_{i∈v}(z − a_i) of every subtree v (stored without their leading 1)
    and the truncated inverse series g_v = 1/rev(f_v) mod z^{deg f_v} (rev(f)(z) =
    z^{deg f} f(1/z) = Π(1 − a_i z)), each obtained from its children by one Newton step
    g ← g + g(1 − rev(f) g) (von zur Gathen & Gerhard, Modern Computer Algebra, §9.1, §10.1).
    ``evaluate``: the remainder tree, r_v = r_parent mod f_v, with the division by a monic
    f of degree d done by the reversed-quotient formula q = rev(rev(r)·g mod z^d).
    ``evaluate_transposed``: the transpose of the remainder tree, step by step.
    ``fraction_numerators``: the tree of fractions Σ_i w_i / (z − a_i) = N/f_root, numerators
    combined as N = N_L·f_R + N_R·f_L (used by the Cauchy product).
``multipoint_evaluate(nodes, coeffs)``
    y_i = Σ_j c_j a_i^j = V c (the Vandermonde product, survey Def 2.6) in O(n log² n).
``transposed_multipoint_evaluate(nodes, w, n)``
    u_j = Σ_i w_i a_i^j = Vᵀ w, by the transposition principle (survey Thm 3.10, Fiduccia):
    the remainder tree run backwards with every step transposed, so it costs the same and
    inherits the forward sweep's accuracy. (The textbook alternative, the power series
    Σ_i w_i/(1 − a_i z) = N(z)/Π(1 − a_i z) mod z^n from a tree of fractions, divides by a
    series whose coefficients h_k(a) are huge for scattered nodes: at m = n = 64, nodes
    0.9·e^{iφ} with random φ, it gave relative error 0.9 where the transposed tree gives
    4e-11, so it is not used.)

Node order (the stable variant)
-------------------------------
The leaves are not taken in the caller's order: the nodes are sorted (by argument when
complex, by value when real) and dealt to the leaves in bit-reversed order, so that every
subtree holds an evenly spread subset (every (L/d)-th sorted node). For the L-th roots of
unity this makes every f_v a binomial z^d − c (coefficients of modulus 1, as in the FFT);
for real nodes it gives the Chebyshev-like products whose monomial coefficients grow only
like ~1.2^d instead of 2^d for a contiguous cluster. Padding leaves (when the node count is
not a power of two) are placed the same way and their values are discarded.

Sizes: with L = 2^⌈log2 min(m, n)⌉, the m nodes form ⌈m/L⌉ trees of L leaves and the n
coefficients ⌈n/L⌉ chunks of L, combined with the powers a^{cL} (computed by repeated
multiplication); so no series beyond z^L is ever needed (the ill-conditioned "reduce modulo
the root" step for n ≫ m is avoided).

Costs are tallied by :class:`FlopCounter` (real additions + multiplications; a complex FFT of
size N counts 5 N log2 N, a real one 2.5 N log2 N, a complex product 6, a complex addition 2).
"""

from __future__ import annotations

import math
import threading
from typing import Self

import torch
import torch.nn.functional as F

__all__ = [
    "FlopCounter",
    "Plan",
    "SubproductTree",
    "conv",
    "gather_leaves",
    "leaf_layout",
    "multipoint_evaluate",
    "next_pow2",
    "sizes_for",
    "transposed_multipoint_evaluate",
]

#: factors with at most this many coefficients are multiplied directly (no FFT)
DIRECT_CONV_MAX = 4

_state = threading.local()


def next_pow2(n: int) -> int:
    """Smallest power of two ≥ n (n ≥ 1)."""
    return 1 << max(0, int(n) - 1).bit_length()


# ---------------------------------------------------------------------- flop tally
class FlopCounter:
    """Context manager that tallies the real flops of the routines in this module::

        with FlopCounter() as fc:
            multipoint_evaluate(nodes, coeffs)
        fc.flops
    """

    def __init__(self) -> None:
        self.flops = 0

    def __enter__(self) -> Self:
        self._prev = getattr(_state, "counter", None)
        _state.counter = self
        return self

    def __exit__(self, *exc) -> None:
        _state.counter = self._prev


def _tally(flops: float) -> None:
    c = getattr(_state, "counter", None)
    if c is not None:
        c.flops += round(flops)


def _batch(shape) -> int:
    return math.prod(shape[:-1]) if len(shape) > 1 else 1


def _tally_add(t: torch.Tensor) -> None:
    _tally(t.numel() * (2 if t.is_complex() else 1))


def _tally_mul(t: torch.Tensor) -> None:
    _tally(t.numel() * (6 if t.is_complex() else 1))


# ---------------------------------------------------------------------- products
def _fit(p: torch.Tensor, out_len: int) -> torch.Tensor:
    """Truncate or zero-pad the last dimension to ``out_len``."""
    k = p.shape[-1]
    if k >= out_len:
        return p[..., :out_len]
    return F.pad(p, (0, out_len - k))


def conv(a: torch.Tensor, b: torch.Tensor, out_len: int | None = None) -> torch.Tensor:
    """Polynomial product a·b on the last dimension (leading dimensions broadcast), truncated
    or zero-padded to ``out_len`` coefficients (default: the full len(a) + len(b) − 1).

    Direct O(len(a)·len(b)) when the shorter factor has ≤ ``DIRECT_CONV_MAX`` coefficients,
    else FFT convolution of size N = next_pow2(len(a) + len(b) − 1): 3 transforms and N
    pointwise products (rfft when both are real). The FFT product's error is normwise,
    ‖δ(a·b)‖ ≲ c·log2(N)·ε·‖a‖‖b‖.
    """
    la, lb = a.shape[-1], b.shape[-1]
    full = la + lb - 1
    out_len = full if out_len is None else out_len
    if a.is_complex() != b.is_complex():
        dt = a.dtype if a.is_complex() else b.dtype
        a, b = a.to(dt), b.to(dt)
    sa, sb = a.shape[:-1], b.shape[:-1]
    k = max(len(sa), len(sb))
    sa, sb = (1,) * (k - len(sa)) + tuple(sa), (1,) * (k - len(sb)) + tuple(sb)
    nbatch = math.prod(max(u, v) for u, v in zip(sa, sb))
    cplx = a.is_complex()
    if min(la, lb) <= DIRECT_CONV_MAX:
        if la > lb:
            a, b, la, lb = b, a, lb, la
        n_keep = min(out_len, full)
        out = None
        for j in range(min(la, n_keep)):
            w = min(lb, n_keep - j)
            term = F.pad(a[..., j : j + 1] * b[..., :w], (j, n_keep - j - w))
            out = term if out is None else out + term
        mults = sum(min(lb, n_keep - j) for j in range(min(la, n_keep)))
        adds = max(0, mults - n_keep)
        _tally(nbatch * (mults * (6 if cplx else 1) + adds * (2 if cplx else 1)))
        return _fit(out, out_len)
    N = next_pow2(full)
    lg = math.log2(N)
    if cplx:
        spec = torch.fft.fft(a, n=N) * torch.fft.fft(b, n=N)
        p = torch.fft.ifft(spec, n=N)
        _tally(nbatch * (3 * 5 * N * lg + 6 * N))
    else:
        spec = torch.fft.rfft(a, n=N) * torch.fft.rfft(b, n=N)
        p = torch.fft.irfft(spec, n=N)
        _tally(nbatch * (3 * 2.5 * N * lg + 6 * (N // 2 + 1)))
    return _fit(p, out_len)


# ---------------------------------------------------------------------- node layout
def sizes_for(m: int, n: int) -> tuple[int, int, int]:
    """(L, nb, C): tree size L = next_pow2(min(m, n)), number of node blocks ⌈m/L⌉, number
    of coefficient chunks ⌈n/L⌉."""
    L = next_pow2(min(m, n))
    return L, -(-m // L), -(-n // L)


def _bit_reverse(k: int) -> torch.Tensor:
    idx = torch.arange(1 << k)
    rev = torch.zeros_like(idx)
    for b in range(k):
        rev |= ((idx >> b) & 1) << (k - 1 - b)
    return rev


def leaf_layout(
    nodes: torch.Tensor, nb: int, L: int, duplicate_pads: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each node goes among the nb·L leaves (see the module docstring).

    Returns ``src`` (nb·L,), the node index held by each leaf, and ``pos`` (m,), the leaf
    index of each node. A padding leaf holds −1, or with ``duplicate_pads`` a copy of a node
    (the P padding leaves copy every (m/P)-th node in sorted order, so that they are spread
    like the nodes themselves). Computed without gradient (a choice of order, not a function
    of θ that needs differentiating).
    """
    with torch.no_grad():
        a = nodes.detach()
        m = a.shape[0]
        if a.is_complex() and not bool((a.imag == 0).all()):
            key = torch.angle(a)
        else:  # real nodes (or complex-typed real values): order by value
            key = a.real if a.is_complex() else a
        ranks = torch.argsort(key, stable=True).cpu()
        total = nb * L
        k = L.bit_length() - 1
        r = torch.arange(total)
        block = r % nb
        within = _bit_reverse(k)[r // nb]
        leaf_of_rank = block * L + within
        src = torch.full((total,), -1, dtype=torch.long)
        src[leaf_of_rank[:m]] = ranks
        if duplicate_pads and total > m:
            P = total - m
            spread = ((torch.arange(P, dtype=torch.float64) + 0.5) * m / P).long().clamp(max=m - 1)
            src[leaf_of_rank[m:]] = ranks[spread]
        pos = torch.empty(m, dtype=torch.long)
        pos[ranks] = leaf_of_rank[:m]
    return src.to(nodes.device), pos.to(nodes.device)


def gather_leaves(nodes: torch.Tensor, src: torch.Tensor, pad_value=0.0) -> torch.Tensor:
    """Leaf values (differentiable in ``nodes``): nodes[src], ``pad_value`` where src = −1."""
    vals = nodes[src.clamp(min=0)]
    pad = torch.full_like(vals, pad_value)
    return torch.where(src >= 0, vals, pad)


# ---------------------------------------------------------------------- the tree
class SubproductTree:
    """Subproduct forest over ``leaves`` of shape (nb, L), L a power of two.

    ``low[l]`` (nb, L/2^l, 2^l): f_v − z^{2^l} for the 2^l-leaf subtrees (monic f_v implied);
    ``ginv[l]`` (nb, L/2^l, 2^l): 1/rev(f_v) mod z^{2^l}. Level 0 are the leaves, level k the
    roots. Building costs O(L log² L) per block, independently of the number of vectors.
    """

    def __init__(self, leaves: torch.Tensor):
        if leaves.ndim != 2:
            raise ValueError(f"leaves: expected shape (nb, L), got {tuple(leaves.shape)}")
        nb, L = leaves.shape
        if L & (L - 1):
            raise ValueError(f"leaves: expected a power-of-two block size, got {L}")
        self.nb, self.L, self.k = nb, L, L.bit_length() - 1
        low = -leaves.unsqueeze(-1)  # (nb, L, 1): z − a
        g = torch.ones_like(low)
        self.low = [low]
        self.ginv = [g]
        for lev in range(1, self.k + 1):
            h = 1 << (lev - 1)
            d = 2 * h
            pairs = low.reshape(nb, -1, 2, h)
            fl, fr = pairs[:, :, 0], pairs[:, :, 1]
            # (z^h + fl)(z^h + fr) = z^{2h} + z^h (fl + fr) + fl·fr
            s = fl + fr
            _tally_add(s)
            low = conv(fl, fr, d) + F.pad(s, (h, 0))
            _tally_add(low[..., h:])
            # inverse series: product of the children's (exact mod z^h), one Newton step
            gp = g.reshape(nb, -1, 2, h)
            g0 = conv(gp[:, :, 0], gp[:, :, 1], h)
            rev = torch.cat([torch.ones_like(low[..., :1]), low.flip(-1)[..., : d - 1]], dim=-1)
            e = conv(rev, g0, d)[..., h:]  # (rev·g0 − 1) / z^h, mod z^h
            corr = conv(g0, e, h)
            _tally_add(corr)
            g = torch.cat([g0, -corr], dim=-1)
            self.low.append(low)
            self.ginv.append(g)

    def growth(self, levels: int | None = None) -> float:
        """Error-growth indicator G = max over the subtrees of the first ``levels`` levels
        (default: all) of (1 + ‖f_v − z^d‖₁)·‖1/rev(f_v) mod z^d‖₁, the ∞-norm amplification
        of one remainder step r ↦ r mod f_v. G ≈ 2 for roots of unity; it explodes for real
        or scattered nodes (``kmatrix bench vandermonde_accuracy`` prints it beside the
        errors)."""
        levels = self.k + 1 if levels is None else levels
        if levels == 0:
            return 1.0
        with torch.no_grad():
            per_level = [
                ((lo.detach().abs().sum(-1) + 1) * g.detach().abs().sum(-1)).max()
                for lo, g in zip(self.low[:levels], self.ginv[:levels])
            ]
            G = float(torch.stack(per_level).max())  # one host sync
        return max(G, 1.0) if math.isfinite(G) else math.inf

    def evaluate(self, r: torch.Tensor) -> torch.Tensor:
        """Remainder tree: r (R, nb, L) polynomials of degree < L (one per block, already
        reduced modulo the roots) → their values at the leaves, (R, nb·L)."""
        R = r.shape[0]
        for lev in range(self.k - 1, -1, -1):
            d = 1 << lev
            # duplicate each parent remainder for its two children
            r = r.unsqueeze(-2).expand(*r.shape[:-1], 2, 2 * d).reshape(R, self.nb, -1, 2 * d)
            # r mod f (f monic of degree d): q = rev(rev(r)·g mod z^d), r − q·f mod z^d
            qrev = conv(r[..., d:].flip(-1), self.ginv[lev], d)
            q = qrev.flip(-1)
            qf = conv(q, self.low[lev], d)
            r = r[..., :d] - qf
            _tally_add(r)
        return r.reshape(R, self.nb * self.L)

    def evaluate_transposed(self, w: torch.Tensor) -> torch.Tensor:
        """The transpose of :meth:`evaluate` (transposition principle, survey Thm 3.10):
        leaf weights w (R, nb·L) → Σ_i w_i a_i^j for j < L, per block, (R, nb, L).

        Each remainder step r ↦ r_lo − T_f J T_g J r_hi (T_c: the lower-triangular Toeplitz
        map u ↦ c·u mod z^d, J: reversal) is transposed to t ↦ (t, −T_g J T_f J t) and the
        duplication of a parent's remainder to the sum of its children's results; the same
        products as the forward sweep, in the opposite order.
        """
        R = w.shape[0]
        t = w.reshape(R, self.nb, self.L, 1)
        for lev in range(self.k):
            d = 1 << lev
            u = conv(t.flip(-1), self.low[lev], d).flip(-1)
            hi = conv(self.ginv[lev], u, d)
            t = torch.cat([t, -hi], dim=-1)  # (R, nb, K, 2d)
            t = t.reshape(R, self.nb, -1, 2, 2 * d).sum(-2)
            _tally_add(t)
        return t.reshape(R, self.nb, self.L)

    def fraction_numerators(self, w: torch.Tensor) -> torch.Tensor:
        """Tree of fractions with leaf weights w (R, nb·L): the numerators N (R, nb, L),
        deg N < L, with Σ_i w_i/(z − a_i) = N(z)/f_root(z) per block, combined upwards as
        N = N_L·f_R + N_R·f_L (f monic: N_L·f_R = N_L·low_R + z^d·N_L).
        """
        R = w.shape[0]
        w = w.reshape(R, self.nb, self.L, 1)
        for lev in range(self.k):
            d = 1 << lev
            pairs = w.reshape(R, self.nb, -1, 2, d)
            wl, wr = pairs[..., 0, :], pairs[..., 1, :]
            den = self.low[lev].reshape(self.nb, -1, 2, d)
            dl, dr = den[:, :, 0], den[:, :, 1]
            s = wl + wr
            w = conv(wl, dr, 2 * d) + conv(wr, dl, 2 * d) + F.pad(s, (d, 0))
            _tally(3 * s.numel() * (2 if s.is_complex() else 1))
        return w.reshape(R, self.nb, self.L)


# ---------------------------------------------------------------------- Vandermonde products
def _chunk_powers(nodes: torch.Tensor, L: int, C: int) -> torch.Tensor:
    """P (m, C) with P[i, c] = a_i^{cL}, by repeated multiplication (relative error ~ c·L·ε,
    the conditioning of a ↦ a^{cL} itself)."""
    step = nodes
    for _ in range(L.bit_length() - 1):
        step = step * step
    _tally(nodes.numel() * (L.bit_length() - 1 + C - 1) * (6 if nodes.is_complex() else 1))
    cols = [torch.ones_like(nodes)]
    for _ in range(C - 1):
        cols.append(cols[-1] * step)
    return torch.stack(cols, dim=1)


class Plan:
    """Everything about V_n(a) that does not depend on the vector: sizes, leaf layout and the
    subproduct forest. Build it once per call and share it between products."""

    def __init__(self, nodes: torch.Tensor, n: int):
        m = nodes.shape[0]
        self.nodes, self.m, self.n = nodes, m, n
        self.L, self.nb, self.C = sizes_for(m, n)
        self.src, self.pos = leaf_layout(nodes, self.nb, self.L)
        self.tree = SubproductTree(gather_leaves(nodes, self.src).reshape(self.nb, self.L))

    def growth(self) -> float:
        """The tree's growth indicator (:meth:`SubproductTree.growth`) below the roots."""
        return self.tree.growth(self.tree.k)


def multipoint_evaluate(nodes: torch.Tensor, coeffs: torch.Tensor, plan: Plan | None = None) -> torch.Tensor:
    """y[r, i] = Σ_j coeffs[r, j] · nodes[i]^j, i.e. y = V x row by row (V[i, j] = a_i^j).

    nodes (m,), coeffs (R, n) of a common dtype (real or complex) → (R, m). Cost
    O(m log² L + R(n + m) log² L) with L = next_pow2(min(m, n)).
    """
    m, n, R = nodes.shape[0], coeffs.shape[-1], coeffs.shape[0]
    plan = Plan(nodes, n) if plan is None else plan
    L, nb, C = plan.L, plan.nb, plan.C
    x = _fit(coeffs, C * L).reshape(R * C, 1, L).expand(R * C, nb, L)
    vals = plan.tree.evaluate(x)[:, plan.pos].reshape(R, C, m)
    if C == 1:
        return vals[:, 0]
    P = _chunk_powers(nodes, L, C)
    _tally(R * m * C * (8 if vals.is_complex() else 2))
    return torch.einsum("rcm,mc->rm", vals, P.to(vals.dtype))


def transposed_multipoint_evaluate(
    nodes: torch.Tensor, w: torch.Tensor, n: int, plan: Plan | None = None
) -> torch.Tensor:
    """u[r, j] = Σ_i w[r, i] · nodes[i]^j for j < n, i.e. u = Vᵀ w row by row: the transpose
    of :func:`multipoint_evaluate`, step by step. nodes (m,), w (R, m) → (R, n)."""
    m, R = nodes.shape[0], w.shape[0]
    plan = Plan(nodes, n) if plan is None else plan
    L, nb, C = plan.L, plan.nb, plan.C
    if C > 1:
        P = _chunk_powers(nodes, L, C)
        wc = w.unsqueeze(1) * P.t().to(w.dtype)  # (R, C, m)
        _tally_mul(wc)
    else:
        wc = w.unsqueeze(1)
    wc = wc.reshape(R * C, m)
    leaves = torch.zeros(R * C, nb * L, dtype=wc.dtype, device=wc.device)
    leaves = leaves.index_copy(1, plan.pos, wc)
    u = plan.tree.evaluate_transposed(leaves)  # (RC, nb, L)
    if nb > 1:
        u = u.sum(1)
        _tally(u.numel() * (nb - 1) * (2 if u.is_complex() else 1))
    else:
        u = u[:, 0]
    return u.reshape(R, C * L)[:, :n]
