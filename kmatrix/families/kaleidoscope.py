"""Kaleidoscope matrices (BB*)^w_e (survey §5.3, Definition 5.4; Dao et al., ICLR 2020).

M = S (M_w ⋯ M_2 M_1) Sᵀ with each M_i = B_i B_i'^* ∈ BB* of size N and S = [I 0] the corner
selector (expansion). The vector meets M_1 first; inside M_i it meets B_i'^* (strides N/2 … 1)
then B_i (strides 1 … N/2): the Beneš order, whose sparsity pattern is exactly a Beneš network
(Theorem 5.6: every permutation is in BB*). θ = 4·w·N·log2 N scalars; the product costs
2w·log2 N stages of 3N real flops (14N over ℂ), O(w N log N).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import check_positive_int
from ..kernels import butterfly_multiply
from ..kernels._lean import forward_padded as lean_forward_padded
from ..kernels._lean import forward_rows as lean_forward_rows
from ._twiddle import (
    TwiddleParameter,
    make_twiddle,
    padded_size,
    stage_factor_dense,
    transpose_twiddle,
)
from .butterfly import stage_flops

__all__ = ["KMatrix", "expansion_for", "kmatrix_size", "merged_kmatrix_product"]


def kmatrix_size(in_size: int, out_size: int, expansion: int) -> int:
    """N = 2^⌈log2(e·max(in, out))⌉ (at least 2)."""
    return padded_size(expansion * max(in_size, out_size))


def expansion_for(in_size: int, out_size: int, n: int) -> int:
    """The smallest expansion e (a power of two) with ``kmatrix_size(in_size, out_size, e) == n``
    for a power of two n ≥ 2 at least max(in_size, out_size)."""
    m = max(in_size, out_size)
    if n < 2 or n & (n - 1) or n < m:
        raise ValueError(f"n: expected a power of two ≥ max(2, {m}), got {n}")
    e = 1 if n == padded_size(m) else n // (1 << (m - 1).bit_length())
    assert kmatrix_size(in_size, out_size, e) == n
    return e


_ORDERS = [(False, True) * w for w in range(9)]  # stride orders of (BB*)^w, factor 0 first


class KMatrix(TwiddleParameter, StructuredMatrix):
    """A K-matrix in (BB*)^w_e (Definition 5.4): the ``out_size × in_size`` upper-left corner of
    a product of w factors B·B* of size N = 2^⌈log2(e·max(in_size, out_size))⌉ (at least 2).

    Parameters
    ----------
    in_size, out_size : int
        Shape out_size × in_size (``out_size`` defaults to ``in_size``): the input is zero-padded
        to N, the output truncated.
    width : int
        w ≥ 1, the number of BB* factors.
    expansion : int
        e ≥ 1: the size N is computed from e·max(in_size, out_size).
    init : str or tensor
        ``"random"`` (each 2×2 block with independent unit-norm random columns, so every stage
        keeps E‖y‖² = ‖x‖², scaled so Var(y_i) = Var(x_j) for i.i.d. inputs, whatever w),
        ``"orthogonal"`` / ``"unitary"`` (every 2×2 block a rotation / Haar unitary: every
        factor is orthogonal / unitary, so deep products neither explode nor vanish),
        ``"identity"`` (every block I), or an explicit twiddle tensor of shape
        (w, 2, log2 N, N/2, 2, 2), kept exactly (its dtype kept unless ``dtype`` is given).
    dtype : torch.dtype
        Real or complex (default: torch's default dtype).
    generator : torch.Generator, optional
        Random source of the random initialisations.

    Notes
    -----
    Twiddle layout: ``twiddle[i, 0, k]`` is the k-th stage of B_i'^* (stride N/2^(k+1)),
    ``twiddle[i, 1, k]`` the k-th stage of B_i (stride 2^k), factor i = 0 applied first; within
    a stage, pair p acts on (x_j, x_{j+s}) with j = (p // s)·2s + p mod s as
    ``[y_j, y_{j+s}] = twiddle[i, part, k, p] @ [x_j, x_{j+s}]``. (B_i'^* is parametrised
    directly by its own blocks: the conjugate transpose of a butterfly is exactly a
    decreasing-stride product of butterfly factors.) Twiddles may be set exactly (0/1 switches,
    float64/complex128 kept) with :meth:`set_twiddle`.

    ``num_params`` = 4·w·N·log2 N; ``flops`` = 2w·log2 N·3N (real) or 2w·log2 N·14N (complex).
    ``.T`` / ``.H`` are native and share θ: (M_w ⋯ M_1)ᵀ = M_1ᵀ ⋯ M_wᵀ with
    (B B'^*)ᵀ = conj(B') Bᵀ again in BB*: the twiddle flipped along (factor, part, stage) with
    transposed blocks. ``A @ B`` is a Product sharing both operands' θ; ``kmatrix.merge(A @ B)``
    (or :func:`kmatrix.kmatrix_product`) of two K-matrices of equal N is one K-matrix of width
    w_A + w_B with new parameters (the truncation between them folded into A's first stage).

    Examples
    --------
    A 4×6 K-matrix of width 2: N = 8, θ = 4·2·8·3 = 192 twiddle entries.

    >>> K = kmatrix.KMatrix(6, 4, width=2)
    >>> K.shape, K.size, K.num_params
    ((4, 6), 8, 192)
    >>> x = torch.randn(3, 6)
    >>> K(x).shape
    torch.Size([3, 4])
    >>> torch.allclose(K(x), x @ K.to_dense().T, atol=1e-6)
    True

    The DFT is exactly a width-1 K-matrix (:func:`kmatrix.transforms.dft` builds its twiddles):

    >>> F = kmatrix.transforms.dft(8, dtype=torch.complex128)
    >>> z = torch.randn(8, dtype=torch.complex128)
    >>> F.width, bool((F(z) - torch.fft.fft(z)).abs().max() < 1e-12)
    (1, True)
    """

    def __init__(
        self,
        in_size: int,
        out_size: int | None = None,
        width: int = 1,
        expansion: int = 1,
        init="random",
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        in_size = check_positive_int(in_size, "in_size")
        out_size = in_size if out_size is None else check_positive_int(out_size, "out_size")
        width = check_positive_int(width, "width")
        expansion = check_positive_int(expansion, "expansion")
        n = kmatrix_size(in_size, out_size, expansion)
        levels = n.bit_length() - 1
        shape = (width, 2, levels, n // 2, 2, 2)
        stage_gain = (n / in_size) ** (1.0 / (2 * 2 * width * levels))
        tw = make_twiddle(init, shape, dtype, device, generator, stage_gain=stage_gain)
        super().__init__((out_size, in_size), tw.dtype, tw.device)
        self.in_size, self.out_size = in_size, out_size
        self.width = width
        self.expansion = expansion
        self.size = n
        self.levels = levels
        self.twiddle = nn.Parameter(tw)

    @property
    def flops(self) -> int:
        return 2 * self.width * self.levels * stage_flops(self.size, self.is_complex)

    # ------------------------------------------------------------------ products
    def _run(self, tw6: torch.Tensor, x: torch.Tensor, k_in: int, k_out: int) -> torch.Tensor:
        """Apply the stage sequence ``tw6`` (w, 2, L, N/2, 2, 2): part 0 with decreasing,
        part 1 with increasing strides, factor 0 first; x (B, k_in) -> (B, k_out)."""
        if k_in < self.size:
            x = F.pad(x, (0, self.size - k_in))
        w = tw6.shape[0]
        # all 2w butterflies in one fused call (one pass over memory): factors (2w, S=1, ...)
        stack = tw6.reshape(2 * w, 1, *tw6.shape[2:])
        y = butterfly_multiply(stack, x.unsqueeze(1).contiguous(), [False, True] * w).squeeze(1)
        return y[:, :k_out] if k_out < self.size else y

    def _matvec(self, x):
        return self._run(self.twiddle, x, self.in_size, self.out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = K x on the last dimension (:meth:`StructuredMatrix.forward`). A call that records
        no gradient (``torch.no_grad()``, or nothing requires grad) on a contiguous CPU input of
        the matrix's dtype goes straight to the compiled kernel, skipping every dispatch layer:
        the same result in a few µs instead of tens."""
        # self.twiddle without nn.Module.__getattr__ (~0.5 µs); a parametrization
        # (torch.nn.utils.parametrize) moves it out of _parameters and computes it
        tw = self._parameters.get("twiddle")
        if tw is None:
            tw = self.twiddle
        if (
            type(x) is torch.Tensor
            and x.dtype == tw.dtype
            and x.ndim >= 1
            and x.shape[-1] == self._shape[1]
            and type(self)._matvec is KMatrix._matvec
        ):
            k_in, n, w = self.in_size, self.size, self.width
            orders = _ORDERS[w] if w < len(_ORDERS) else (False, True) * w
            if k_in == n == self.out_size:  # no padding: the kernel reads x as it is
                y = lean_forward_rows(tw, x, 1, n, orders, 2 * w)
                if y is not None:
                    return y
                return super().forward(x)
            y = lean_forward_padded(tw, x, 1, k_in, n, self.out_size, orders, 2 * w)
            if y is not None:
                return y
        return super().forward(x)

    def _rmatvec(self, y):
        return self._run(transpose_twiddle(self.twiddle, (0, 1, 2)), y, self.out_size, self.in_size)

    def _hmatvec(self, y):
        tw = transpose_twiddle(self.twiddle, (0, 1, 2), conj=True)
        return self._run(tw, y, self.out_size, self.in_size)

    # ------------------------------------------------------------------ structure
    def factors(self) -> list[tuple[str, torch.Tensor]]:
        """Dense N×N butterfly factor matrices (Definition 5.2) in application order, each
        tagged ``"B*"`` (decreasing strides) or ``"B"`` (increasing): the matrix is the
        corner of factors[-1] @ … @ factors[0]. For pictures and small checks."""
        tw = self.twiddle.detach()
        out = []
        for i in range(self.width):
            for k in range(self.levels):
                out.append(("B*", stage_factor_dense(tw[i, 0, k], self.size >> (k + 1))))
            for k in range(self.levels):
                out.append(("B", stage_factor_dense(tw[i, 1, k], 1 << k)))
        return out

    def compact(self) -> KMatrix:
        """A new KMatrix (new parameters, copied exactly) without the factors B·B'^* whose
        blocks are all exactly the 2×2 identity (identity factors left by a construction); at
        least one factor is kept. The matrix is unchanged: dropping I from M_w ⋯ M_1 is exact."""
        tw = self.twiddle.detach()
        eye = torch.eye(2, dtype=tw.dtype, device=tw.device)
        keep = [i for i in range(self.width) if not bool((tw[i] == eye).all())] or [0]
        return KMatrix(
            self.in_size, self.out_size, width=len(keep), expansion=self.expansion, init=tw[keep].clone()
        )

    def _merge_scale(self, scalar):
        tw = self.twiddle.detach().clone()
        if isinstance(scalar, complex) and not tw.is_complex():
            tw = tw.to(torch.promote_types(tw.dtype, torch.complex64))
        tw[0, 0, 0].mul_(scalar)
        return KMatrix(self.in_size, self.out_size, self.width, self.expansion, init=tw)

    def _config(self):
        return {
            "in_size": self.in_size,
            "out_size": self.out_size,
            "width": self.width,
            "expansion": self.expansion,
            "init": self.twiddle.detach(),
            "dtype": self.dtype,
        }

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, width={self.width}, expansion={self.expansion}, N={self.size}"


def merged_kmatrix_product(a: KMatrix, b: KMatrix) -> KMatrix:
    """A @ B as ONE K-matrix with **new parameters** (from the operands' current values,
    detached): width w_A + w_B, same N (Definition 5.4: (BB*)^{w_A} (BB*)^{w_B} ⊆
    (BB*)^{w_A + w_B}). A @ B = S_A E_A Sᵀ S E_B S_Bᵀ with Sᵀ S = diag(1_k, 0) (k = the inner
    size): the projection scales the columns of A's first stage (stride N/2, pairs
    (p, p + N/2)), so the product is exactly a K-matrix. Raises ValueError when the shapes do
    not chain or the two sizes N differ. Cost O(w N log N) (a copy of the twiddles)."""
    for name, v in (("a", a), ("b", b)):
        if not isinstance(v, KMatrix):
            raise TypeError(f"{name}: expected a KMatrix, got {type(v).__name__}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"a, b: cannot multiply {a.shape} @ {b.shape}: inner dimensions differ")
    if a.size != b.size:
        raise ValueError(f"a, b: expected K-matrices of the same size N, got {a.size} and {b.size}")
    n, k = a.size, a.in_size
    dtype = torch.promote_types(a.dtype, b.dtype)
    ta = a.twiddle.detach().to(dtype).clone()
    tb = b.twiddle.detach().to(dtype)
    if k < n:
        mask = (torch.arange(n, device=ta.device) < k).to(dtype)
        half = n // 2
        ta[0, 0, 0, :, :, 0] *= mask[:half, None]
        ta[0, 0, 0, :, :, 1] *= mask[half:, None]
    tw = torch.cat([tb, ta], dim=0)
    in_size, out_size = b.in_size, a.out_size
    return KMatrix(in_size, out_size, width=a.width + b.width, expansion=expansion_for(in_size, out_size, n), init=tw)


@register_rule("matmul", KMatrix, KMatrix)
def _kmatrix_matmul(a: KMatrix, b: KMatrix):
    """Merging rule (``kmatrix.merge``): :func:`merged_kmatrix_product` when the sizes agree."""
    if a.size != b.size:
        return None
    return merged_kmatrix_product(a, b)
