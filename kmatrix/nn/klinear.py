"""KLinear: a drop-in ``nn.Linear`` whose weight is a K-matrix (survey §5.3, Definition 5.4) —
the ``"kmatrix"`` case of :class:`~kmatrix.nn.StructuredLinear`.

y = W x + b with W ∈ (BB*)^w_e the ``out_features × in_features`` corner of a product of w
factors B·B* of size N = 2^⌈log2(e·max(in, out))⌉. Parameters: 4·w·N·log2 N twiddles
(+ out_features bias) instead of in·out; cost O(w N log N) per row instead of O(in·out).
"""

from __future__ import annotations

import torch

from .structured_linear import StructuredLinear

__all__ = ["KLinear"]


class KLinear(StructuredLinear):
    """Drop-in replacement for ``nn.Linear(in_features, out_features, bias)``, equal to
    ``StructuredLinear(in_features, out_features, "kmatrix", bias, width=, expansion=, init=)``.

    ``weight`` is a :class:`kmatrix.KMatrix`; ``bias`` an ``nn.Parameter`` of shape
    (out_features,), initialised like ``nn.Linear``'s (uniform on ±1/√in_features).
    ``init`` is the K-matrix initialisation: ``"random"`` (default) keeps ``nn.Linear``'s
    output variance (Var(y_i) = Var(x_j)/3 for i.i.d. inputs); ``"orthogonal"``,
    ``"identity"`` or an explicit twiddle tensor are used as given.
    A real layer rejects complex input (TypeError); a complex layer (``dtype=torch.complex64``)
    accepts real and complex input. Input (..., in_features) -> (..., out_features).

    Size and padding: the K-matrix has size N = 2^⌈log2(expansion·max(in_features,
    out_features))⌉ (at least 2); the input is zero-padded from ``in_features`` to N and the
    output truncated to ``out_features``. Parameters: 4·width·N·log2 N twiddle entries, plus
    ``out_features`` for the bias (against in·out + out for ``nn.Linear``); the product costs
    O(width·N log N). ``budget`` (instead of ``width``): the largest width within that many
    weight parameters (int) or that fraction in (0, 1] of in·out (float), as for
    :class:`StructuredLinear`.

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
        budget: float | None = None,
    ):
        opts = {"expansion": expansion, "init": init}
        if budget is None:
            opts["width"] = width
        super().__init__(in_features, out_features, "kmatrix", bias=bias, budget=budget, dtype=dtype,
                         device=device, generator=generator, **opts)

    @property
    def width(self) -> int:
        return self.weight.width

    @property
    def expansion(self) -> int:
        return self.weight.expansion
