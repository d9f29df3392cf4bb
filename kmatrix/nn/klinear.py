"""KLinear: a drop-in ``nn.Linear`` whose weight is a K-matrix (survey §5.3, Definition 5.4).

y = W x + b with W ∈ (BB*)^w_e the ``out_features × in_features`` corner of a product of w
factors B·B* of size N = 2^⌈log2(e·max(in, out))⌉. Parameters: 4·w·N·log2 N twiddles
(+ out_features bias) instead of in·out; cost O(w N log N) per row instead of O(in·out).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.validation import check_positive_int
from ..families.kaleidoscope import KMatrix

__all__ = ["KLinear"]


class KLinear(nn.Module):
    """Drop-in replacement for ``nn.Linear(in_features, out_features, bias)``.

    ``weight`` is a :class:`kmatrix.KMatrix` (a StructuredMatrix: ``weight.to_dense()``,
    ``weight.T``, ``weight @ other``, save/load all work); ``bias`` an ``nn.Parameter`` of
    shape (out_features,), initialised like ``nn.Linear``'s (uniform on ±1/√in_features).
    ``init`` is the K-matrix initialisation (default ``"random"``: Var(y_i) = Var(x_j) for
    i.i.d. inputs; ``"orthogonal"``, ``"identity"`` or an explicit twiddle tensor).
    A real layer rejects complex input (TypeError); a complex layer (``dtype=torch.complex64``)
    accepts real and complex input. Input (..., in_features) -> (..., out_features).

    Size and padding: the K-matrix has size N = 2^⌈log2(expansion·max(in_features,
    out_features))⌉ (at least 2); the input is zero-padded from ``in_features`` to N and the
    output truncated to ``out_features``. Parameters: 4·width·N·log2 N twiddle entries, plus
    ``out_features`` for the bias (against in·out + out for ``nn.Linear``); the product costs
    O(width·N log N).

    Examples
    --------
    100 → 30 features: N = 128, 4·1·128·7 = 3584 twiddle entries + 30 bias entries.

    >>> layer = kmatrix.nn.KLinear(100, 30)
    >>> layer.weight.size, sum(p.numel() for p in layer.parameters())
    (128, 3614)
    >>> layer(torch.randn(8, 100)).shape
    torch.Size([8, 30])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        width: int = 1,
        expansion: int = 1,
        init="random",
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        in_features = check_positive_int(in_features, "in_features")
        out_features = check_positive_int(out_features, "out_features")
        if not isinstance(bias, bool):
            raise TypeError(f"bias: expected a bool, got {bias!r}")
        self.weight = KMatrix(
            in_features, out_features, width=width, expansion=expansion, init=init,
            dtype=dtype, device=device, generator=generator,
        )
        self.in_features = self.weight.in_size
        self.out_features = self.weight.out_size
        if bias:
            bound = 1.0 / math.sqrt(self.in_features)
            b = torch.empty(self.out_features, dtype=self.weight.dtype, device=self.weight.device)
            if b.is_complex():
                re = torch.empty(self.out_features, dtype=b.real.dtype, device=b.device)
                im = torch.empty_like(re)
                b = torch.complex(re.uniform_(-bound, bound, generator=generator),
                                  im.uniform_(-bound, bound, generator=generator))
            else:
                b.uniform_(-bound, bound, generator=generator)
            self.bias = nn.Parameter(b)
        else:
            self.register_parameter("bias", None)

    @property
    def width(self) -> int:
        return self.weight.width

    @property
    def expansion(self) -> int:
        return self.weight.expansion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input: expected a torch.Tensor, got {type(x).__name__}")
        if x.is_complex() and not self.weight.is_complex:
            raise TypeError(
                f"input: a real KLinear layer (dtype {self.weight.dtype}) expects a real tensor, "
                f"got dtype {x.dtype}; build the layer with a complex dtype to multiply complex input"
            )
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"input: expected last dimension {self.in_features}, got shape {tuple(x.shape)}"
            )
        y = self.weight(x)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, width={self.width}, expansion={self.expansion}"
        )
