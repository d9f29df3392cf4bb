"""The one place kmatrix touches private PyTorch names.

kmatrix supports the torch versions stated in ``pyproject.toml``; the private functions below
may change or vanish in any release. Each wrapper tries the private name once (at import) and,
when it is missing, falls back to an answer that is always *safe*: the state checks report
"something is active", so callers take the slow generic path (the custom op and its
registered/Function autograd, which works under every tracer and transform), and
:func:`parse_to` parses ``.to()`` arguments in plain Python. Nothing here changes a result,
only which (equivalent) path computes it.

=========================================  ==============================================
wrapper                                    private name (fallback when missing)
=========================================  ==============================================
:func:`functorch_active`                   ``torch._C._functorch.peek_interpreter_stack``
                                           (True)
:func:`dispatch_mode_active`               ``torch._C._len_torch_dispatch_stack``, else
                                           ``torch.utils._python_dispatch.
                                           _get_current_dispatch_mode`` (True)
:func:`torch_function_mode_active`         ``torch._C._is_torch_function_mode_enabled``
                                           (True)
:func:`parse_to`                           ``torch._C._nn._parse_to`` (a Python parser of
                                           the documented ``Module.to`` signatures)
:func:`register_global_decomposition`      ``torch._decomp.decomposition_table`` (not
                                           registered; returns False)
:func:`apply_function`                     ``torch._C._FunctionBase`` in ``Function``'s MRO
                                           (``cls.apply``)
=========================================  ==============================================

:func:`plain_eager` combines the state checks with the public ``torch.compiler.is_compiling``
and ``torch.jit.is_tracing``:
True only for an ordinary eager call, where the compiled kernel may be called directly.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "apply_function",
    "dispatch_mode_active",
    "functorch_active",
    "parse_to",
    "plain_eager",
    "register_global_decomposition",
    "torch_function_mode_active",
]


def _lookup(path: str):
    """The object at dotted ``path`` below ``torch`` (e.g. ``"_C._nn._parse_to"``), or None."""
    obj = torch
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            if obj is torch or part.startswith("_"):
                # submodules that are not attributes until imported (torch.utils._python_dispatch)
                import importlib

                try:
                    obj = importlib.import_module(f"{obj.__name__}.{part}")
                    continue
                except (ImportError, AttributeError):
                    return None
            return None
    return obj


_peek_interpreter_stack = _lookup("_C._functorch.peek_interpreter_stack")
_len_dispatch_stack = _lookup("_C._len_torch_dispatch_stack")
_get_current_dispatch_mode = _lookup("utils._python_dispatch._get_current_dispatch_mode")
_is_torch_function_mode_enabled = _lookup("_C._is_torch_function_mode_enabled")
_parse_to = _lookup("_C._nn._parse_to")
_decomposition_table = _lookup("_decomp.decomposition_table")
_FunctionBase = _lookup("_C._FunctionBase")
_FAST_STATE = None not in (_peek_interpreter_stack, _len_dispatch_stack,
                           _is_torch_function_mode_enabled)  # fmt: skip
# Function.apply = (bind default arguments, unwrap functorch wrappers, _C._FunctionBase.apply)
_DIRECT_APPLY = _FunctionBase is not None and _FunctionBase in torch.autograd.Function.__mro__


#: exact types whose memory a kernel may read on a plain eager call (no subclass behaviour)
PLAIN_TYPES = (Tensor, torch.nn.Parameter)


def functorch_active() -> bool:
    """True while a torch.func transform (grad, vmap, jvp, ...) is running (tensors may be
    functorch wrappers whose memory must not be read directly); True when unknown."""
    f = _peek_interpreter_stack
    return True if f is None else f() is not None


def dispatch_mode_active() -> bool:
    """True while a Python dispatch mode (FakeTensorMode, make_fx/export tracing, ...) is
    active; True when unknown."""
    if _len_dispatch_stack is not None:  # what _get_current_dispatch_mode reads, one C call
        return _len_dispatch_stack() > 0
    f = _get_current_dispatch_mode
    return True if f is None else f() is not None


def torch_function_mode_active() -> bool:
    """True while a ``__torch_function__`` mode is active; True when unknown."""
    f = _is_torch_function_mode_enabled
    return True if f is None else bool(f())


def plain_eager(*tensors: Tensor) -> bool:
    """True for an ordinary eager call on exact ``torch.Tensor`` (or ``nn.Parameter``)
    arguments: nothing compiling or tracing (torch.compile, torch.export, torch.jit.trace), no
    torch.func transform, no dispatch or torch-function mode. Only then may a compiled kernel read the tensors' memory directly;
    any doubt answers False.

    Cost: a few hundred nanoseconds (four C calls); the compile check comes first because the
    others are not traceable by dynamo."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    for t in tensors:
        if type(t) not in PLAIN_TYPES:
            return False
    if _FAST_STATE:  # the three C calls directly (this runs on every small product)
        return not (
            _peek_interpreter_stack() is not None
            or _len_dispatch_stack() > 0
            or _is_torch_function_mode_enabled()
        )
    return not (functorch_active() or dispatch_mode_active() or torch_function_mode_active())


def apply_function(cls: type, *args):
    """``cls.apply(*args)`` for an ``autograd.Function`` subclass on a plain eager call
    (:func:`plain_eager`) with every argument given positionally: the C ``apply`` directly,
    without ``Function.apply``'s per-call ``inspect.signature`` binding of default arguments
    (about 10 µs, 30 µs on a loaded machine) and functorch unwrapping, neither of which such a
    call needs. Fallback: ``cls.apply(*args)``."""
    if _DIRECT_APPLY:
        return super(torch.autograd.Function, cls).apply(*args)
    return cls.apply(*args)


def _parse_to_python(*args, **kwargs):
    """Plain-Python parser of ``Module.to(device=None, dtype=None, non_blocking=False,
    memory_format=...)``, ``.to(dtype)``, ``.to(tensor)``, ``.to(device, dtype)``: returns
    ``(device, dtype, non_blocking, memory_format)`` like ``torch._C._nn._parse_to``."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    non_blocking = bool(kwargs.pop("non_blocking", False))
    memory_format = kwargs.pop("memory_format", None)
    kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        t = rest.pop(0)
        device, dtype = t.device, t.dtype
    elif rest and isinstance(rest[0], torch.dtype):
        dtype = rest.pop(0)
    elif rest and (rest[0] is None or isinstance(rest[0], (str, int, torch.device))):
        d = rest.pop(0)
        device = None if d is None else torch.device(d)
        if rest and isinstance(rest[0], torch.dtype):
            dtype = rest.pop(0)
    if rest and isinstance(rest[0], bool):
        non_blocking = rest.pop(0)
    if rest:
        raise TypeError(f"to() received an invalid combination of arguments: {args!r}")
    if device is not None and not isinstance(device, torch.device):
        device = torch.device(device)
    return device, dtype, non_blocking, memory_format


def parse_to(*args, **kwargs):
    """``(device, dtype, non_blocking, memory_format)`` of the arguments of ``Module.to``."""
    if _parse_to is not None:
        return _parse_to(*args, **kwargs)
    return _parse_to_python(*args, **kwargs)


def register_global_decomposition(op, fn) -> bool:
    """Add ``op -> fn`` to torch's global decomposition table (which ``torch.onnx.export``
    consults), unless ``op`` already has an entry. False when the table is not available (then
    pass the decomposition explicitly: ``ep.run_decompositions({op: fn})``)."""
    table = _decomposition_table
    if not isinstance(table, dict):
        return False
    table.setdefault(op, fn)
    return True
