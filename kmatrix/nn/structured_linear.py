"""StructuredLinear: a drop-in ``nn.Linear`` whose weight is any learnable structured family.

y = W x + b, W the ``out_features × in_features`` upper-left corner of a structured matrix of the
family (registered in :mod:`kmatrix.nn.registry`): families that exist at any shape (dense,
lowrank, sparse, sparse_lowrank, toeplitz, butterfly, kmatrix) are built at exactly that shape;
square-only ones (circulant, ldr) at N = max(in, out), the input zero-padded to N and the output
truncated to ``out_features`` inside the layer. Cost per input row: ``weight.flops`` + out
additions for the bias, instead of out·(2·in − 1) + out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_compat import plain_eager
from ..core.validation import check_positive_int
from . import registry
from .registry import build, check_budget, get_family, solve_budget, uniform

__all__ = ["StructuredLinear"]

_MISSING = object()  # a bias that is not a plain parameter entry (see forward)
_INPLACE_BIAS_MIN_NUMEL = 1 << 16  # below this a new output costs less than the checks


class StructuredLinear(nn.Module):
    """``StructuredLinear(in_features, out_features, family, bias=True, budget=None, **options)``.

    Parameters
    ----------
    in_features, out_features : int
        The layer maps (..., in_features) → (..., out_features), any sizes.
    family : str
        A name in ``kmatrix.nn.FAMILIES``: ``"dense"``, ``"lowrank"`` (``rank=``), ``"sparse"``
        (``nnz=`` random fixed locations, or ``pattern=`` an (out, in) boolean mask or (rows,
        cols)), ``"sparse_lowrank"`` (``rank=``, ``nnz=``/``pattern=``), ``"toeplitz"``,
        ``"circulant"``, ``"ldr"`` (Toeplitz-like, ``rank=``), ``"butterfly"``
        (``increasing_stride=``, ``init=``), ``"kmatrix"`` (``width=``, ``expansion=``, ``init=``),
        and ``"monarch"`` where registered.
    bias : bool
        Add a learnable bias, initialised U(±1/√in_features) like ``nn.Linear``'s.
    budget : int or float, optional
        Number of weight parameters (int), or a fraction in (0, 1] of the dense count
        in·out (float; 0.25 = a quarter of nn.Linear's weight): the family's size option (rank,
        nnz, width, ...) is chosen as the largest member with at most that many parameters
        (:func:`kmatrix.nn.solve_budget`); a budget below every member raises ValueError naming
        the nearest. ``self.budget`` holds the resulting count.
    dtype, device, generator
        Precision (real or complex; default torch's default dtype), device, random source.

    Notes
    -----
    The weight is initialised so that outputs keep ``nn.Linear``'s default variance (Var(x)/3
    per output for i.i.d. inputs; per-family rules in :mod:`kmatrix.nn.registry`).
    ``weight`` is the StructuredMatrix (``weight.to_dense()``, ``.T``, save/load work); the
    method :meth:`to_dense` gives the dense out × in weight (differentiable). Input dtype must be the
    layer's (a complex layer also takes real input of its precision); other dtypes raise
    TypeError rather than being cast silently.
    
    Examples
    --------
    >>> layer = kmatrix.nn.StructuredLinear(300, 200, "lowrank", budget=20_000)
    >>> layer.options()
    {'rank': 40}
    >>> kmatrix.nn.StructuredLinear(300, 200, "lowrank", budget=0.5).options()  # 30,000 parameters
    {'rank': 60}
    >>> layer(torch.randn(8, 300)).shape
    torch.Size([8, 200])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        family: str,
        bias: bool = True,
        budget: float | None = None,
        *,
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
        **options,
    ):
        super().__init__()
        in_features = check_positive_int(in_features, "in_features")
        out_features = check_positive_int(out_features, "out_features")
        if not isinstance(bias, bool):
            raise TypeError(f"bias: expected a bool, got {bias!r}")
        spec = get_family(family)
        if budget is not None:
            budget = check_budget(budget, in_features, out_features)
            options = solve_budget(spec, in_features, out_features, budget, **options)
        self.family = spec.name
        self.in_features, self.out_features = in_features, out_features
        self.budget = budget
        self._options = dict(options)
        self.weight = build(spec, in_features, out_features, dtype, device, generator, self._options)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, dtype=self.weight.dtype, device=self.weight.device))
            self._init_bias(generator)
        else:
            self.register_parameter("bias", None)

    # ------------------------------------------------------------------ attributes
    @property
    def spec(self) -> registry.FamilySpec:
        return get_family(self.family)

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype

    @property
    def num_params(self) -> int:
        """Parameters of the layer (weight + bias), each complex one counted once."""
        return self.weight.num_params + (0 if self.bias is None else self.out_features)

    @property
    def flops(self) -> int:
        """Real flops of one input row: the weight's product plus the bias additions."""
        add = 0 if self.bias is None else self.out_features * (2 if self.weight.is_complex else 1)
        return self.weight.flops + add

    def options(self) -> dict:
        """The family's size options of this layer (rank, nnz, width, ...)."""
        return self.spec.describe(self.weight)

    # ------------------------------------------------------------------ init
    def _init_bias(self, generator=None) -> None:
        b = uniform((self.out_features,), 1 / math.sqrt(self.in_features), self.bias.dtype,
                    self.bias.device, generator)
        with torch.no_grad():
            self.bias.copy_(b)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-draw the weight (the family's initialisation, same pattern / options) and the bias."""
        opts = {k: v for k, v in self._options.items() if k in ("init",)}
        self.spec.init(self.weight, self.in_features, self.out_features, generator, **opts)
        if self.bias is not None:
            self._init_bias(generator)

    # ------------------------------------------------------------------ product
    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input: expected a torch.Tensor, got {type(x).__name__}")
        wdt = self.weight.dtype
        name = type(self).__name__
        if x.is_complex() and not wdt.is_complex:
            raise TypeError(
                f"input: a real {name} layer (dtype {wdt}) expects a real tensor, got dtype {x.dtype}; "
                "build the layer with a complex dtype to multiply complex input"
            )
        ok = x.dtype == wdt or (wdt.is_complex and x.dtype == wdt.to_real())
        if not ok:
            raise TypeError(
                f"input: expected dtype {wdt} (the {name} layer's), got {x.dtype}; convert the input "
                f"or the layer (layer.to({x.dtype}))"
            )
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"input: expected last dimension {self.in_features}, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # weight, bias and the weight's dtype read from the module dicts (nn.Module.__getattr__
        # costs ~0.7 µs per lookup, a third of a small call's overhead); a bias moved out of
        # _parameters (torch.nn.utils.parametrize) is read as an attribute
        weight = self._modules["weight"]
        bias = self._parameters.get("bias", _MISSING)
        if bias is _MISSING:
            bias = self.bias
        anchor = weight._buffers.get("_anchor")
        # the common case (input of the layer's dtype and width) passes without _check_input
        if not (
            type(x) is torch.Tensor
            and x.ndim
            and x.shape[-1] == self.in_features
            and anchor is not None
            and x.dtype == anchor.dtype
        ):
            self._check_input(x)
        m, n = weight.shape
        if n != self.in_features:
            x = F.pad(x, (0, n - self.in_features))
        full = weight(x)
        y = full[..., : self.out_features] if m != self.out_features else full
        if bias is None:
            return y
        if y.dtype != bias.dtype and not y.is_complex() and torch.is_autocast_enabled(y.device.type):
            bias = bias.to(y.dtype)  # as F.linear under autocast: the bias joins the cast dtype
        if (
            not torch.compiler.is_compiling()  # a size test would guard an exported batch size
            and full.numel() >= _INPLACE_BIAS_MIN_NUMEL
            and plain_eager(full, bias)
            and y.dtype == bias.dtype
            and not full.requires_grad
            and not (bias.requires_grad and torch.is_grad_enabled())
            and 0 not in full.stride()  # not an expanded (self-overlapping) view
            and full.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
        ):
            # Nothing records a gradient and the weight's output is its own new tensor (not x,
            # which identity-like families return): add the bias in place, one pass over y
            # instead of a new output (KLinear(4096) at batch 1024: 0.72 -> 0.14 ms of ~4.5).
            return y.add_(bias)
        return y + bias

    def to_dense(self) -> torch.Tensor:
        """The dense out × in weight (the used corner of ``weight.to_dense()``; differentiable)."""
        return self.weight.to_dense()[: self.out_features, : self.in_features]

    def to_linear(self) -> nn.Linear:
        """A new ``nn.Linear(in_features, out_features)`` computing the same map, for tools that
        need a dense weight (quantizers, exporters, pruning): weight = :meth:`to_dense`
        (O(in·out) memory), bias copied.

        Makes new, independent parameters (detached copies, same dtype and device; the weight
        requires grad when the structured weight does): training it does not change this
        layer."""
        with torch.no_grad():
            dense = self.to_dense().detach().clone()
            lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                            dtype=dense.dtype, device=dense.device)  # fmt: skip
            lin.weight.copy_(dense)
            if self.bias is not None:
                lin.bias.copy_(self.bias.detach())
        lin.weight.requires_grad_(any(p.requires_grad for p in self.weight.parameters()))
        if self.bias is not None:
            lin.bias.requires_grad_(self.bias.requires_grad)
        return lin

    def extra_repr(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in self.options().items())
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, family={self.family}, "
            f"bias={self.bias is not None}{opts}, params={self.num_params}"
        )
