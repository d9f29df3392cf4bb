"""Butterfly matrices B^(N) (survey §5.2, Definitions 5.1–5.3).

B^(N) = B_N^(N) ⋯ B_4^(N) B_2^(N): a product of L = log2 N butterfly factor matrices, the
factor with block size k = 2s pairing coordinates at stride s (Definition 5.2). θ = the
twiddles, 4 scalars per 2×2 block, N/2 blocks per factor: 2·N·log2 N parameters. Product
O(N log N): 3N real flops per stage with real twiddles (N/2 blocks × (4 multiplies + 2 adds)),
14N with complex ones (N/2 blocks × (4 complex multiplies of 6 flops + 2 complex adds of 2)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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

__all__ = ["Butterfly", "stage_flops"]


def stage_flops(n: int, is_complex: bool) -> int:
    """Real flops of one butterfly stage of size n: n/2 blocks × (4 mul + 2 add) = 3n over ℝ;
    n/2 × (4 complex mul × 6 + 2 complex add × 2) = 14n over ℂ."""
    return 14 * n if is_complex else 3 * n


class Butterfly(TwiddleParameter, StructuredMatrix):
    """A butterfly matrix B^(N) (Definition 5.3), or its upper-left ``out_size × in_size`` corner.

    Parameters
    ----------
    in_size, out_size : int
        Matrix shape (out_size × in_size; ``out_size`` defaults to ``in_size``). The butterfly
        has size N = 2^⌈log2 max(in_size, out_size)⌉ (at least 2); the input is zero-padded to N
        and the output truncated, i.e. the matrix is S B^(N) Sᵀ-style corner of B^(N).
    increasing_stride : bool
        True (default, the survey's order): the vector meets stride 1 first, then 2, …, N/2, so
        the matrix is B_N^(N) ⋯ B_2^(N). False: strides N/2, …, 1 (the shape of B*, e.g. the
        transpose of an increasing-stride butterfly).
    init : str or tensor
        ``"random"`` (each 2×2 block with independent unit-norm random columns, so every stage
        keeps E‖y‖² = ‖x‖², scaled so that the corner keeps Var(y_i) = Var(x_j) for i.i.d.
        inputs),
        ``"orthogonal"`` / ``"unitary"`` (each 2×2 block a rotation / Haar unitary, so the N×N
        butterfly is orthogonal / unitary), ``"identity"``, or an explicit twiddle tensor of
        shape :attr:`twiddle_shape` (kept exactly, dtype kept unless ``dtype`` is given).
    dtype : torch.dtype
        Real or complex precision of θ and of the product (default: torch's default dtype).
    nstack : int or None
        None: one matrix, twiddle of shape (log2 N, N/2, 2, 2). An integer S: S independent
        butterflies (one per head or group) with twiddle (S, log2 N, N/2, 2, 2), as the
        block-diagonal matrix diag(B_1, …, B_S) of shape (S·out_size, S·in_size). Its forward
        takes (..., S·in_size) — a (..., S, in_size) tensor flattened on its last two dimensions,
        block s acting on slice s — and returns (..., S·out_size); :meth:`forward_stacked` takes
        and returns the unflattened (..., S, in_size) → (..., S, out_size).
    generator : torch.Generator, optional
        Random source of the random initialisations.

    Notes
    -----
    Twiddle layout (public, shared with the kernels): ``twiddle[k]`` is the stage applied k-th;
    its stride is s = 2^k (increasing) or N/2^(k+1) (decreasing); pair p acts on
    (x_i, x_{i+s}) with i = (p // s)·2s + p mod s: ``[y_i, y_{i+s}] = twiddle[k, p] @ [x_i,
    x_{i+s}]``. Twiddles may be set exactly with :meth:`set_twiddle`.

    ``num_params`` = S·2N log2 N; ``flops`` = S·log2 N·3N (real) or S·log2 N·14N (complex).
    ``.T`` / ``.H`` are native: the stages in reverse order with transposed (conjugate-
    transposed) blocks, an increasing-stride butterfly transposing to a decreasing-stride one;
    they share θ and run on the same kernel.

    Examples
    --------
    >>> B = kmatrix.Butterfly(8, dtype=torch.float64)
    >>> B.num_params, B.flops                     # 2·N·log2 N, 3N per stage
    (48, 72)
    >>> x = torch.randn(2, 8, dtype=torch.float64)
    >>> torch.allclose(B(x), x @ B.to_dense().T), torch.allclose(B.T.to_dense(), B.to_dense().T)
    (True, True)
    >>> kmatrix.Butterfly(6, 5).shape             # a corner of the N = 8 butterfly
    (5, 6)
    """

    def __init__(
        self,
        in_size: int,
        out_size: int | None = None,
        increasing_stride: bool = True,
        init="random",
        dtype: torch.dtype | None = None,
        nstack: int | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        in_size = check_positive_int(in_size, "in_size")
        out_size = in_size if out_size is None else check_positive_int(out_size, "out_size")
        if not isinstance(increasing_stride, bool):
            raise TypeError(f"increasing_stride: expected a bool, got {increasing_stride!r}")
        if nstack is not None:
            nstack = check_positive_int(nstack, "nstack")
        n = padded_size(max(in_size, out_size))
        levels = n.bit_length() - 1
        shape = (levels, n // 2, 2, 2) if nstack is None else (nstack, levels, n // 2, 2, 2)
        stage_gain = (n / in_size) ** (1.0 / (2 * levels))
        tw = make_twiddle(init, shape, dtype, device, generator, stage_gain=stage_gain)
        stack = 1 if nstack is None else nstack
        super().__init__((stack * out_size, stack * in_size), tw.dtype, tw.device)
        self.in_size, self.out_size = in_size, out_size
        self.increasing_stride = increasing_stride
        self.nstack = nstack
        self.size = n
        self.levels = levels
        self.twiddle = nn.Parameter(tw)

    # ------------------------------------------------------------------ attributes
    @property
    def _stack(self) -> int:
        return 1 if self.nstack is None else self.nstack

    @property
    def flops(self) -> int:
        return self._stack * self.levels * stage_flops(self.size, self.is_complex)

    def _tw5(self) -> torch.Tensor:
        """Twiddles in the kernel layout (S, L, N/2, 2, 2)."""
        return self.twiddle.unsqueeze(0) if self.nstack is None else self.twiddle

    # ------------------------------------------------------------------ products
    def _run(self, tw5: torch.Tensor, x: torch.Tensor, k_in: int, k_out: int, increasing: bool):
        b = x.shape[0]
        s = self._stack
        x = x.reshape(b, s, k_in)
        if k_in < self.size:
            x = F.pad(x, (0, self.size - k_in))
        y = butterfly_multiply(tw5, x.contiguous(), increasing)
        if k_out < self.size:
            y = y[..., :k_out]
        return y.reshape(b, s * k_out)

    def _matvec(self, x):
        return self._run(self._tw5(), x, self.in_size, self.out_size, self.increasing_stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = B x on the last dimension (:meth:`StructuredMatrix.forward`). A call that records
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
            and type(self)._matvec is Butterfly._matvec
        ):
            s, k_in, n = (self.nstack or 1), self.in_size, self.size  # _stack, inlined
            if k_in == n == self.out_size:  # no padding: the kernel reads x as it is
                y = lean_forward_rows(tw, x, s, n, (self.increasing_stride,), 1)
                if y is not None:
                    return y
                return super().forward(x)
            y = lean_forward_padded(tw, x, s, k_in, n, self.out_size, (self.increasing_stride,), 1)
            if y is not None:
                return y
        return super().forward(x)

    def _rmatvec(self, y):
        tw = transpose_twiddle(self._tw5(), (1,))
        return self._run(tw, y, self.out_size, self.in_size, not self.increasing_stride)

    def _hmatvec(self, y):
        tw = transpose_twiddle(self._tw5(), (1,), conj=True)
        return self._run(tw, y, self.out_size, self.in_size, not self.increasing_stride)

    def forward_stacked(self, x: torch.Tensor) -> torch.Tensor:
        """(..., S, in_size) -> (..., S, out_size): block s multiplies x[..., s, :]."""
        if x.ndim < 2 or x.shape[-2] != self._stack:
            raise ValueError(
                f"x: expected shape (..., {self._stack}, {self.in_size}) for a stack of "
                f"{self._stack} butterflies, got {tuple(x.shape)}"
            )
        y = self(x.reshape(*x.shape[:-2], self._stack * x.shape[-1]))
        return y.reshape(*x.shape[:-2], self._stack, self.out_size)

    # ------------------------------------------------------------------ structure
    def factors(self) -> list[torch.Tensor]:
        """Dense N×N butterfly factor matrices (Definition 5.2) in application order (stack 0),
        for pictures and small checks: B^(N) = factors[-1] @ … @ factors[0]."""
        tw = self._tw5()[0].detach()
        out = []
        for k in range(self.levels):
            stride = 1 << k if self.increasing_stride else self.size >> (k + 1)
            out.append(stage_factor_dense(tw[k], stride))
        return out

    def _merge_scale(self, scalar):
        tw = self.twiddle.detach().clone()
        if isinstance(scalar, complex) and not tw.is_complex():
            tw = tw.to(torch.promote_types(tw.dtype, torch.complex64))
        first = tw[0] if self.nstack is None else tw[:, 0]
        first.mul_(scalar)
        return Butterfly(self.in_size, self.out_size, self.increasing_stride, init=tw, nstack=self.nstack)

    def _config(self):
        return {
            "in_size": self.in_size,
            "out_size": self.out_size,
            "increasing_stride": self.increasing_stride,
            "init": self.twiddle.detach(),
            "dtype": self.dtype,
            "nstack": self.nstack,
        }

    def extra_repr(self) -> str:
        order = "increasing" if self.increasing_stride else "decreasing"
        stack = "" if self.nstack is None else f", nstack={self.nstack}"
        return f"{super().extra_repr()}, N={self.size}, stride={order}{stack}"
