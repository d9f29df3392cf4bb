"""The single-layer network of the survey: y = g(W_θ x) (Definition 2.1, Assumption 3.1).

W_θ is any :class:`~kmatrix.StructuredMatrix` (its parameters are θ, shared, never copied) and
g is applied elementwise. Training it on E(θ) = Σ_ℓ ‖y⁽ˡ⁾ − g(W_θ x⁽ˡ⁾)‖² (Definition 3.2) is
:func:`kmatrix.learn.fit`. Cost of a forward pass: one fast product of W plus m applications of g.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..core.structured import StructuredMatrix

__all__ = ["ACTIVATIONS", "SingleLayer"]


def _identity(u: torch.Tensor) -> torch.Tensor:
    return u


#: named activations: name -> (g, g′), g′ the derivative (for Lemma 3.5's z = −2(y − g(u)) g′(u))
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "identity": (_identity, torch.ones_like),
    "relu": (torch.relu, lambda u: (u > 0).to(u.dtype)),
    "tanh": (torch.tanh, lambda u: 1 - torch.tanh(u) ** 2),
    "sigmoid": (torch.sigmoid, lambda u: torch.sigmoid(u) * (1 - torch.sigmoid(u))),
}

_REAL_ONLY = ("relu", "sigmoid")


class SingleLayer(nn.Module):
    """y = g(W x) on the last dimension: x of shape (..., n) -> y of shape (..., m).

    Parameters
    ----------
    W : StructuredMatrix
        The weight W_θ (kept, not copied: training the layer trains W's parameters, including
        every factor of a composition such as ``Product([A, B])``).
    activation : None, str, callable or nn.Module
        g, applied elementwise. None or ``"identity"``: g(u) = u (the linear case); ``"relu"``,
        ``"tanh"``, ``"sigmoid"`` by name (relu and sigmoid need real values); any callable or
        ``nn.Module`` (a module's own parameters are trained with W).

    ``g_prime`` is g′ for the named activations (None for a callable: autograd differentiates
    it). ``num_params`` counts every trained scalar (W's θ and an activation module's).

    Examples
    --------
    >>> W = kmatrix.Dense(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))
    >>> layer = kmatrix.nn.SingleLayer(W, "relu")
    >>> layer(torch.tensor([1.0, 1.0]))
    tensor([0.0000, 3.5000], grad_fn=<ReluBackward0>)
    >>> layer.shape, layer.num_params, layer.is_linear
    ((2, 2), 4, False)
    """

    def __init__(self, W: StructuredMatrix, activation=None):
        super().__init__()
        if not isinstance(W, StructuredMatrix):
            raise TypeError(f"W: expected a kmatrix StructuredMatrix, got {type(W).__name__}")
        self.W = W
        if activation is None:
            activation = "identity"
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, a callable or an "
                                 f"nn.Module, got {activation!r}")
            self.activation_name = activation
            self._g, self.g_prime = ACTIVATIONS[activation]
        elif isinstance(activation, nn.Module):
            self.activation_name = type(activation).__name__
            self.g_module = activation  # registered once: its parameters train too
            self._g, self.g_prime = None, None
        elif callable(activation):
            self.activation_name = getattr(activation, "__name__", type(activation).__name__)
            self._g, self.g_prime = activation, None
        else:
            raise TypeError(f"activation: expected None, a name, a callable or an nn.Module, "
                            f"got {type(activation).__name__}")

    @property
    def shape(self) -> tuple[int, int]:
        """(m, n), the shape of W."""
        return self.W.shape

    @property
    def is_linear(self) -> bool:
        """True when g is the identity (then the layer is the linear map W)."""
        return self.activation_name == "identity"

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def g(self, u: torch.Tensor) -> torch.Tensor:
        """The activation applied elementwise to u = W x."""
        if u.is_complex() and self.activation_name in _REAL_ONLY:
            raise TypeError(f"activation: {self.activation_name} is defined for real values, but W x is "
                            f"complex ({u.dtype}); use RealPart(W), 'tanh', 'identity' or a callable")
        return self.g_module(u) if self._g is None else self._g(u)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(self.W(x))

    def extra_repr(self) -> str:
        return f"activation={self.activation_name}"
