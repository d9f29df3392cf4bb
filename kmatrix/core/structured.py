"""The one base class: a structured matrix W_θ (survey §2.4–2.6, Question 2.3).

A structured matrix is a ``torch.nn.Module`` whose parameters are θ and whose ``forward`` is the
fast matrix-vector product x ↦ W_θ x on the last dimension (like ``nn.Linear`` without bias).
Gradients with respect to θ and x come from autograd (the Efficient-Gradient property: by
Baur–Strassen, Thm 3.6, reverse mode costs a constant times the forward circuit).

A family (subclass) writes very little:

* ``__init__`` calling ``super().__init__(shape, dtype)`` and registering θ as parameters;
* ``_matvec(x)``: x of shape (B, n) in ``self.dtype`` → (B, m), the fast product;
* ``flops``: real multiplications + additions of one matrix-vector product;
* ``_config()``: the constructor's keyword arguments (tensors allowed) for ``kmatrix.save``.

Optional: ``_rmatvec`` (Wᵀy) or ``_hmatvec`` (Wᴴy) when cheaper than the autograd default,
``_transpose()`` / ``_adjoint()`` returning a native structured matrix, ``to_dense()``,
``_check_parameters()`` re-running the constructor's checks on the current values (default:
finite), which ``validate()`` runs after ``kmatrix.load`` and after every dtype conversion.
"""

from __future__ import annotations

import itertools
import threading
import warnings
from typing import Any, ClassVar

import torch
from torch import nn

from .._torch_compat import parse_to
from .validation import check_finite, complex_dtype_of, real_dtype_of

__all__ = ["FAMILIES", "StructuredMatrix", "family_name"]

#: qualified name (``module.qualname``, see ``family_name``) -> class, filled by
#: ``__init_subclass__``; ``kmatrix.load`` resolves the names a file gives here.
FAMILIES: dict[str, type[StructuredMatrix]] = {}

# set while the outermost StructuredMatrix._apply of a conversion runs (nested ones defer to it)
_APPLYING = threading.local()


def family_name(cls: type) -> str:
    """The name under which ``cls`` is registered and saved: ``module.qualname`` (a user class
    named like a kmatrix family gets a different name, so it can never be taken for one)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _same_tensor(copy: torch.Tensor | None, t: torch.Tensor | None) -> bool:
    if copy is None or t is None:
        return copy is None and t is None
    return (
        copy.dtype == t.dtype and copy.device == t.device and copy.shape == t.shape
        and torch.equal(copy, t.detach())
    )


class StructuredMatrix(nn.Module):
    """An m×n matrix W_θ with a fast product, as a ``torch.nn.Module``.

    Attributes
    ----------
    field : ClassVar[str]
        ``"any"`` (real or complex, following the parameters), ``"real"`` (always real, e.g. a
        real layer) or ``"complex"`` (always complex, e.g. the DFT). ``.to(dtype)`` changes the
        precision within the field; a real matrix may be promoted to complex, a complex one is
        never silently truncated to real.

    Examples
    --------
    Every family shares this interface:

    >>> W = kmatrix.Toeplitz(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 4.0, 5.0]))
    >>> W.shape, W.num_params, W.dtype
    ((3, 3), 5, torch.float32)
    >>> x = torch.randn(4, 3)
    >>> W(x).shape                                # the product on the last dimension
    torch.Size([4, 3])
    >>> torch.allclose(W(x), x @ W.to_dense().T)
    True
    >>> torch.allclose(W.T.to_dense(), W.to_dense().T)   # .T and .H share θ
    True
    >>> (W @ torch.eye(3)).shape                  # matrix semantics with a tensor
    torch.Size([3, 3])
    """

    field: ClassVar[str] = "any"
    #: True for families without floating parameters (Permutation, Fourier): a product is
    #: computed in the higher of the input's and the matrix's precision instead of raising.
    computes_in_input_precision: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        FAMILIES[family_name(cls)] = cls

    def __init__(self, shape: tuple[int, int], dtype: torch.dtype | None = None, device=None):
        super().__init__()
        m, n = (int(s) for s in shape)
        if m <= 0 or n <= 0:
            raise ValueError(f"shape: expected positive dimensions, got {(m, n)}")
        self._shape = (m, n)
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not (dtype.is_floating_point or dtype.is_complex):
            raise TypeError(f"dtype: expected a floating-point or complex dtype, got {dtype}")
        dtype = self._field_dtype(dtype)
        # An empty buffer carries dtype and device through .to(), .double(), .cuda() for
        # families without floating parameters (Fourier, Permutation).
        self.register_buffer("_anchor", torch.empty(0, dtype=dtype, device=device), persistent=False)

    # ------------------------------------------------------------------ basic attributes
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> torch.dtype:
        """Dtype in which the product is computed (the parameters' dtype)."""
        return self._anchor.dtype

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    @property
    def is_complex(self) -> bool:
        return self.dtype.is_complex

    @property
    def num_params(self) -> int:
        """Number of scalars in θ (a complex scalar counts once)."""
        return sum(p.numel() for p in self.parameters())

    @property
    def num_real_params(self) -> int:
        """Real degrees of freedom in θ (a complex scalar counts twice)."""
        return sum(p.numel() * (2 if p.is_complex() else 1) for p in self.parameters())

    @property
    def flops(self) -> int:
        """Real multiplications + additions of one matrix-vector product (family formula)."""
        raise NotImplementedError(f"{type(self).__name__} does not define flops")

    # ------------------------------------------------------------------ dtype handling
    def _field_dtype(self, dtype: torch.dtype) -> torch.dtype:
        if self.field == "real":
            return real_dtype_of(dtype)
        if self.field == "complex":
            return complex_dtype_of(dtype)
        return dtype

    def to(self, *args, **kwargs):
        """``nn.Module.to`` with the field rule: precision changes, the field is kept.

        A real-field family asked for a complex dtype stays real (same precision); a complex
        family asked for a real dtype stays complex; an ``"any"`` family that is complex stays
        complex (its imaginary parts are never dropped) and a real one may become complex.
        """
        device, dtype, non_blocking, _memory_format = parse_to(*args, **kwargs)
        if dtype is not None:
            target = self._field_dtype(dtype)
            if self.field == "any" and self.is_complex and not target.is_complex:
                target = complex_dtype_of(target)
            kwargs = {"dtype": target}
            if device is not None:
                kwargs["device"] = device
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Complex modules are a new feature")
                return super().to(**kwargs, non_blocking=non_blocking)
        return super().to(*args, **kwargs)

    def _apply(self, fn, recurse=True):
        """``nn.Module._apply`` (behind ``.to``, ``.double``, ``.half``, ``.cuda`` ...) followed,
        when a dtype changed, by ``validate()``: rounding can break what the constructor checked
        (``Cauchy.to(torch.float16)`` can make distinct nodes equal, large values overflow to
        inf). On a failed check every tensor of the tree is put back as it was (nothing is lost)
        and ValueError is raised."""
        if getattr(_APPLYING, "active", False):
            return super()._apply(fn, recurse)
        saved = []  # (module, table, name, tensor object, its data, (grad, grad data), dtype)
        for mod in self.modules():
            for table in (mod._parameters, mod._buffers):
                for name, t in table.items():
                    if t is not None:  # .data: aliases that keep the old storage and dtype
                        grad = None if t.grad is None else (t.grad, t.grad.data)
                        saved.append((mod, table, name, t, t.data, grad, t.dtype))
        _APPLYING.active = True
        try:
            out = super()._apply(fn, recurse)
        finally:
            _APPLYING.active = False
        changed = any(
            table.get(name) is not None and table[name].dtype != dtype
            for _, table, name, _, _, _, dtype in saved
        )
        if not changed:
            return out
        try:
            self.validate()
        except ValueError as exc:
            with torch.no_grad():
                for mod, table, name, t, data, grad, _ in saved:
                    table[name] = t
                    t.data = data
                    if grad is not None:
                        grad[0].data = grad[1]
                        t.grad = grad[0]
            raise ValueError(
                f"dtype: the conversion makes {type(self).__name__} invalid, so it was undone: {exc}"
            ) from None
        return out

    # ------------------------------------------------------------------ validation
    def _check_parameters(self) -> None:
        """Re-run the family's constructor checks on its current values (own tensors only;
        nested structured matrices check themselves). Default: every floating or complex
        parameter and buffer finite (``check_finite``). A family with more invariants
        overrides this, calling the same check function as its constructor."""
        for name, t in itertools.chain(self._parameters.items(), self._buffers.items()):
            if t is not None:
                check_finite(t.detach(), name)

    def validate(self) -> StructuredMatrix:
        """Check every structured matrix in this module tree (``_check_parameters``); raises
        ValueError naming the argument at fault, returns ``self``. Run by ``kmatrix.load`` and
        after any dtype conversion."""
        for mod in self.modules():
            if isinstance(mod, StructuredMatrix):
                mod._check_parameters()
        return self

    # ------------------------------------------------------------------ derived caches
    def _derived(self, slot: str, inputs: tuple, build, key: Any = None):
        """``build()``, data derived from the tensors ``inputs`` (a node tree, a CSR layout, a
        kernel), reused while every input holds the same values and ``key`` (hashable:
        dtype, orientation ...) is unchanged. The check compares each input with a private copy
        taken at build time (``torch.equal``: O(size of the inputs), below the cost of any
        product that uses them), so no in-place write can leave it stale — ``p.data.copy_``,
        ``torch.no_grad`` updates, ``load_state_dict`` and ``.to()`` included (version counters
        miss writes through ``.data``). With autograd recording through an input that requires
        grad, nothing is cached: ``build()`` runs so that gradients reach the inputs."""
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
            return build()
        cache = self.__dict__.setdefault("_derived_cache", {})
        hit = cache.get(slot)
        if hit is not None and hit[0] == key and len(hit[1]) == len(inputs) and all(
            _same_tensor(a, b) for a, b in zip(hit[1], inputs)
        ):
            return hit[2]
        with torch.no_grad():
            value = build()
        copies = tuple(None if t is None else t.detach().clone() for t in inputs)
        cache[slot] = (key, copies, value)
        return value

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        state = dict(state)
        state.pop("_derived_cache", None)
        return state

    # ------------------------------------------------------------------ the product
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n) in ``self.dtype`` -> W x as (B, m). Every family implements this."""
        raise NotImplementedError

    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """y: (B, m) -> Wᵀ y as (B, n) (bilinear adjoint). Default: from ``_hmatvec``."""
        return self._hmatvec(y.conj()).conj()

    def _hmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """y: (B, m) -> Wᴴ y as (B, n) (sesquilinear adjoint).

        Default: from an overridden ``_rmatvec``, else torch's vector-Jacobian product of the
        linear map x ↦ Wx (which is exactly Wᴴ; this *is* the transposition principle, Thm
        3.10, carried out by reverse-mode autodiff at O(1) times the cost of the product).
        """
        if type(self)._rmatvec is not StructuredMatrix._rmatvec:
            return self._rmatvec(y.conj()).conj()
        return self._hmatvec_autograd(y)

    def _hmatvec_autograd(self, y: torch.Tensor) -> torch.Tensor:
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x = torch.zeros(y.shape[0], self.shape[1], dtype=y.dtype, device=y.device, requires_grad=True)
            out = self._matvec(x)
            (g,) = torch.autograd.grad(out, x, grad_outputs=y, create_graph=create_graph)
        return g

    def _prepare_input(self, x: Any, name: str = "x") -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if not (x.is_floating_point() or x.is_complex()):
            raise TypeError(f"{name}: expected a floating-point or complex tensor, got dtype {x.dtype}")
        if x.ndim == 0:
            raise ValueError(f"{name}: expected at least one dimension of size {self.shape[1]}, got a scalar")
        if x.shape[-1] != self.shape[1]:
            raise ValueError(
                f"{name}: expected last dimension {self.shape[1]} (matrix shape {self.shape}), "
                f"got shape {tuple(x.shape)}"
            )
        return x

    def _apply_rows(self, x2: torch.Tensor, op) -> torch.Tensor:
        """Apply ``op`` (a (B, k) -> (B, l) linear map over ``self.dtype``) to the rows of x2,
        following the dtype rule: computation in the matrix's precision; a real matrix on a
        complex input acts on the real and imaginary parts (stacked into one batch). An input
        of a precision the matrix's dtype cannot hold exactly (float64 into float32, complex128
        into complex64) raises TypeError, as ``torch.matmul`` and ``nn.Linear`` do, except for
        families with ``computes_in_input_precision`` (no parameters: Permutation, Fourier),
        which compute in the higher of the two precisions. An empty batch gives an empty result
        of the right shape and dtype (FFT backends reject B = 0)."""
        if x2.shape[0] == 0:
            return self._apply_rows(x2.new_zeros(1, x2.shape[1]), op)[:0]
        if self.computes_in_input_precision:
            return op(x2.to(self._field_dtype(torch.promote_types(x2.dtype, self.dtype))))
        self._check_input_precision(x2.dtype)
        if x2.is_complex() and not self.is_complex:
            b = x2.shape[0]
            parts = torch.cat([x2.real, x2.imag], dim=0).to(self.dtype).contiguous()
            y = op(parts).to(real_dtype_of(complex_dtype_of(self.dtype)))
            return torch.complex(y[:b], y[b:])
        return op(x2.to(self.dtype))

    def _check_input_precision(self, dtype: torch.dtype) -> None:
        """Raise TypeError when an input of ``dtype`` would be rounded to the matrix's precision."""
        xr, mr = real_dtype_of(dtype), real_dtype_of(self.dtype)
        if torch.promote_types(xr, mr) != mr:
            fix_x = complex_dtype_of(mr) if dtype.is_complex else mr
            raise TypeError(
                f"x: a {type(self).__name__} of dtype {self.dtype} cannot take an input of dtype "
                f"{dtype} without rounding it to {mr}; convert the matrix with "
                f"M.to({xr}) or the input with x.to({fix_x})"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = W x on the last dimension: x of shape (..., n) -> (..., m)."""
        x = self._prepare_input(x)
        lead = x.shape[:-1]
        y = self._apply_rows(x.reshape(-1, self.shape[1]), self._matvec)
        return y.reshape(*lead, self.shape[0])

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """Wᵀ y on the last dimension: (..., m) -> (..., n)."""
        return self.T(y)

    def hmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """Wᴴ y on the last dimension: (..., m) -> (..., n)."""
        return self.H(y)

    # ------------------------------------------------------------------ dense and adjoints
    def to_dense(self) -> torch.Tensor:
        """The m×n matrix (default: the fast product applied to the identity)."""
        eye = torch.eye(self.shape[1], dtype=self.dtype, device=self.device)
        return self._matvec(eye).transpose(0, 1)

    def _transpose(self) -> StructuredMatrix:
        from .compose import Transposed

        return Transposed(self)

    def _adjoint(self) -> StructuredMatrix:
        from .compose import Adjoint

        return Adjoint(self)

    @property
    def T(self) -> StructuredMatrix:
        """Transpose (bilinear adjoint), a structured matrix sharing θ, never formed densely."""
        return self._transpose()

    @property
    def H(self) -> StructuredMatrix:
        """Conjugate transpose (sesquilinear adjoint), a structured matrix sharing θ."""
        if not self.is_complex:
            return self._transpose()
        return self._adjoint()

    def conj(self) -> StructuredMatrix:
        """Entrywise conjugate, as a structured matrix: conj(W) = (Wᴴ)ᵀ."""
        return self if not self.is_complex else self.H.T

    # ------------------------------------------------------------------ composition
    # The operators never cut the autograd graph: they return compositions holding the
    # operands (see ``kmatrix.core.compose``); ``merged()`` builds new parameters explicitly.
    __array_ufunc__ = None  # numpy defers ``ndarray @ W``, ``2.0 * W`` ... to these methods

    @staticmethod
    def _reject_array(other, op: str):
        import numpy as np

        if isinstance(other, np.ndarray):
            raise TypeError(
                f"other: {op} of a StructuredMatrix and a numpy.ndarray is not supported; convert "
                "the array with torch.from_numpy(X) (or the matrix with np.asarray(W), dense)"
            )

    def __matmul__(self, other):
        """``W @ V`` for a StructuredMatrix V: the :class:`Product` W·V, sharing both operands'
        parameters (:func:`kmatrix.merge` turns it into one family where a rule exists).
        ``W @ X`` for a tensor X of shape (..., n, k): the matrix product, (..., m, k); a vector
        (n,) gives W x. Shapes must chain (ValueError otherwise).

        Examples
        --------
        >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
        >>> P = kmatrix.Permutation(torch.tensor([1, 0]))
        >>> (D @ P).to_dense().tolist()
        [[0.0, 1.0], [2.0, 0.0]]
        >>> (D @ torch.tensor([[1.0, 1.0], [1.0, 0.0]])).tolist()
        [[1.0, 1.0], [2.0, 0.0]]
        """
        from .compose import combine

        if isinstance(other, StructuredMatrix):
            return combine("matmul", self, other)
        if isinstance(other, torch.Tensor):
            if other.ndim == 1:
                return self(other)
            if other.ndim == 0:
                raise ValueError("other: matmul needs a vector or matrix, got a scalar tensor")
            if other.shape[-2] != self.shape[1]:
                raise ValueError(
                    f"other: expected shape (..., {self.shape[1]}, k) for W @ X with W of shape "
                    f"{self.shape}, got {tuple(other.shape)}"
                )
            return self(other.transpose(-1, -2)).transpose(-1, -2)
        self._reject_array(other, "W @ X")
        return NotImplemented

    def __rmatmul__(self, other):
        if isinstance(other, torch.Tensor):
            if other.ndim == 0:
                raise ValueError("other: matmul needs a vector or matrix, got a scalar tensor")
            # X @ W: each row of X is multiplied by W from the right, i.e. by Wᵀ on the left.
            return self.T(other)
        self._reject_array(other, "X @ W")
        return NotImplemented

    def __add__(self, other):
        """``W + V``: the :class:`Sum` of two structured matrices of the same shape, sharing
        their parameters (:func:`kmatrix.merge` turns it into one family where a rule exists).
        Adding a tensor or array raises TypeError (convert it with :class:`kmatrix.Dense`).

        Examples
        --------
        >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
        >>> S = D + D.T
        >>> type(S).__name__, S.to_dense().tolist()
        ('Sum', [[2.0, 0.0], [0.0, 4.0]])
        """
        from .compose import combine

        if isinstance(other, StructuredMatrix):
            return combine("add", self, other)
        self._reject_array(other, "W + X")
        return NotImplemented

    def __sub__(self, other):
        if isinstance(other, StructuredMatrix):
            return self + (-1) * other
        self._reject_array(other, "W - X")
        return NotImplemented

    def __neg__(self):
        return (-1) * self

    @staticmethod
    def _is_scalar(s) -> bool:
        import numbers

        return (isinstance(s, numbers.Number) and not isinstance(s, bool)) or (
            isinstance(s, torch.Tensor) and s.ndim == 0
        )

    def __mul__(self, scalar):
        """``c * W`` or ``W * c`` for a scalar c (a number, or a 0-d tensor, learnable when it
        requires grad): the :class:`Scaled` matrix c·W sharing W's parameters. Elementwise
        products with tensors are not supported (TypeError).

        Examples
        --------
        >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
        >>> (3 * D).to_dense().tolist()
        [[3.0, 0.0], [0.0, 6.0]]
        >>> c = torch.tensor(0.5, requires_grad=True)
        >>> (c * D)(torch.ones(2)).sum().backward()
        >>> c.grad.item()
        3.0
        """
        from .compose import scale

        if self._is_scalar(scalar):
            return scale(self, scalar)
        self._reject_array(scalar, "W * X")
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        """W / c = (1/c)·W (a ``Scaled`` sharing θ); c = 0 raises ZeroDivisionError."""
        from .compose import scale

        if self._is_scalar(scalar):
            if isinstance(scalar, torch.Tensor) and scalar.requires_grad:
                return scale(self, 1 / scalar)
            if scalar == 0:
                raise ZeroDivisionError("scalar: cannot divide a structured matrix by zero")
            return scale(self, 1 / (scalar.item() if isinstance(scalar, torch.Tensor) else scalar))
        self._reject_array(scalar, "W / X")
        return NotImplemented

    def merged(self) -> StructuredMatrix:
        """``kmatrix.merge(self)``: compositions merged into single families where a rule
        exists, with **new parameters** (built from the current values; no gradient reaches
        this matrix's parameters through the result)."""
        from .compose import merge

        return merge(self)

    def _merged(self) -> StructuredMatrix:
        """Hook of ``merge``: compositions override it; a leaf family is already merged."""
        return self

    def _merge_scale(self, scalar) -> StructuredMatrix | None:
        """c·W as a matrix of the same family with **new parameters** (used by ``merge``), or
        None when the family has no such form (the ``Scaled`` view is kept)."""
        return None

    # ------------------------------------------------------------------ numpy interop
    def __array__(self, dtype=None, copy=None):
        """``np.asarray(W)``: the dense matrix, detached, on the CPU, in the matching numpy dtype
        (bfloat16, which numpy lacks, as float32)."""

        if copy is False:
            raise ValueError("copy: np.asarray(W, copy=False) is impossible, the dense matrix is computed")
        with torch.no_grad():
            d = self.to_dense().detach().cpu().resolve_conj()
        if d.dtype == torch.bfloat16:
            d = d.float()
        arr = d.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    # ------------------------------------------------------------------ serialisation / repr
    def _config(self) -> dict[str, Any]:
        """Constructor keyword arguments that rebuild this matrix (tensors and nested
        structured matrices allowed); used by ``kmatrix.save``."""
        raise NotImplementedError(f"{type(self).__name__} does not define _config()")

    def extra_repr(self) -> str:
        m, n = self.shape
        dt = str(self.dtype).replace("torch.", "")
        return f"shape=({m}, {n}), dtype={dt}, num_params={self.num_params}"
