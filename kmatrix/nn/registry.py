"""The family registry of :class:`~kmatrix.nn.StructuredLinear`: one entry per learnable family,
name → how to build it, how to (re-)initialise it, how many parameters a member has and which
size parameter a parameter budget picks.

Initialisation (every family): the weight W (out × in, the used corner of the structured matrix)
is drawn so that E‖W‖_F² = out/3, i.e. for i.i.d. inputs of variance σ² every output of W x
has variance σ²/3 on average — exactly what ``nn.Linear``'s default (Kaiming-uniform with
a = √5: entries U(±1/√in), variance 1/(3·in)) gives. Per family:

* dense: entries U(±1/√in) (nn.Linear's own rule);
* lowrank W = L R (rank r): R U(±√(3/in)) (variance 1/in), L U(±1/√r) (variance 1/(3r)):
  E‖LR‖_F² = out·r·in·(1/in)·(1/(3r)) = out/3;
* sparse (s stored entries): values U(±√(out/s)) (variance out/(3s)), so E‖W‖_F² = out/3
  (s = in·out gives nn.Linear's U(±1/√in));
* sparse_lowrank: each part initialised as above for a target out/6 (half the variance each);
* toeplitz: θ U(±1/√in): every entry of W is one θ value, variance 1/(3·in);
* circulant (N = max(in, out), the corner used): c U(±1/√in), the same per-entry variance;
* ldr (Toeplitz-like, L = Z_1, R = Z_{−1}): generators U(±√3), then G and H are both scaled by
  c = (out/(3‖W‖_F²))^{1/4}, so ‖W‖_F² = out/3 exactly (W is bilinear in (G, H); one dense
  evaluation at initialisation). Scaling G alone left |G| ~ 1e-3·|H| and gradients 1000× apart,
  so each Adam step moved W by far more than its size: training diverged in 2 of 3 digits seeds;
* butterfly / kmatrix: the families' ``"random"`` twiddles (unit-norm block columns, every stage
  keeping E‖y‖² = ‖x‖², corner rescaled to Var(y_i) = Var(x_j)) times 3^(−1/(2K)) per stage
  for K stages, so the product gains 1/3 in variance.

Budgets: a budget is a number of **weight** parameters (the structured matrix's
``num_params``; the bias, ``out`` more, is the same for every family and not counted).
:func:`solve_budget` picks the largest size parameter whose count does not exceed the budget
(a fixed-size family must fit); a budget below the family's smallest member raises ValueError
naming that member and its count.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable

import torch

from ..core.structured import StructuredMatrix
from ..core.validation import budget_count, check_positive_int
from ..families import (
    LDR,
    Butterfly,
    Circulant,
    Dense,
    KMatrix,
    LowRank,
    Monarch,
    Sparse,
    SparsePlusLowRank,
    Toeplitz,
)
from ..families._twiddle import make_twiddle, padded_size, set_twiddle_
from ..families.kaleidoscope import kmatrix_size
from ..families.monarch import default_nblocks

__all__ = ["FAMILIES", "FamilySpec", "get_family", "register_family", "solve_budget"]


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """One learnable family as a layer weight.

    Fields:

    * ``build(in_f, out_f, dtype, device, generator, **options)``: a StructuredMatrix of shape at
      least (out_f, in_f) (larger only for square-only families: the layer pads the input and
      truncates the output), initialised as described in ``help("kmatrix.nn.registry")``.
    * ``init(W, in_f, out_f, generator, **options)``: re-draws W's parameters in place (no
      autograd record).
    * ``count(in_f, out_f, **options)``: the weight's parameter count for these options.
    * ``options``: every keyword ``build`` accepts besides dtype, device and generator.
    * ``describe(W)``: a dict of the options to show in ``extra_repr``.
    * ``size_param``: the option a budget chooses (``None``: fixed size), with
      ``size_range(in_f, out_f, **options)`` its allowed (lo, hi) (count increasing in it);
      ``solve`` a custom budget solver (sparse_lowrank splits the budget).
    * ``compile``: whether ``torch.compile(fullgraph=True)`` is tested to work on the layer.
    * ``default(in_f, out_f)``: the options of the family's default-size member (what
      :func:`kmatrix.learn.make_family` builds without a budget; ``None``: no options needed).
    * ``twiddles``: its parameters are 2×2 twiddle blocks (butterfly, kmatrix), which
      :func:`kmatrix.learn.recover` trains with a unitary phase first.

    Examples
    --------
    >>> spec = kmatrix.nn.FAMILIES["lowrank"]
    >>> spec.size_param, spec.count(64, 32, rank=4)
    ('rank', 384)
    """

    name: str
    build: Callable
    init: Callable
    count: Callable
    options: tuple[str, ...]
    describe: Callable
    size_param: str | None = None
    size_range: Callable | None = None
    solve: Callable | None = None
    compile: bool = True
    summary: str = ""
    default: Callable | None = None
    twiddles: bool = False

    def default_options(self, in_f: int, out_f: int) -> dict:
        """The options of the default-size member (``default``, or none)."""
        return {} if self.default is None else dict(self.default(in_f, out_f))


FAMILIES: dict[str, FamilySpec] = {}
_ALIASES = {"sparse+lowrank": "sparse_lowrank", "splr": "sparse_lowrank", "low_rank": "lowrank",
            "k-matrix": "kmatrix", "klinear": "kmatrix", "toeplitz_like": "ldr"}


def register_family(spec: FamilySpec) -> FamilySpec:
    """Add (or replace) a family in the registry; returns ``spec``.

    Examples
    --------
    >>> import dataclasses
    >>> spec = dataclasses.replace(kmatrix.nn.FAMILIES["lowrank"], name="lowrank_copy")
    >>> kmatrix.nn.register_family(spec).name
    'lowrank_copy'
    >>> kmatrix.nn.StructuredLinear(10, 10, "lowrank_copy", rank=2).family
    'lowrank_copy'
    >>> del kmatrix.nn.FAMILIES["lowrank_copy"]
    """
    if not isinstance(spec, FamilySpec):
        raise TypeError(f"spec: expected a FamilySpec, got {type(spec).__name__}")
    FAMILIES[spec.name] = spec
    return spec


def get_family(family) -> FamilySpec:
    """The spec of ``family`` (a registered name, an alias, or a FamilySpec).

    Examples
    --------
    >>> kmatrix.nn.get_family("sparse+lowrank").name
    'sparse_lowrank'
    """
    if isinstance(family, FamilySpec):
        return family
    if not isinstance(family, str):
        raise TypeError(f"family: expected a family name (str), got {family!r}")
    key = _ALIASES.get(family.lower(), family.lower())
    if key not in FAMILIES:
        close = difflib.get_close_matches(family.lower(), list(FAMILIES) + list(_ALIASES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"family: unknown family {family!r}{hint}; available: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[key]


def check_budget(budget, in_features: int, out_features: int) -> int:
    """``budget`` as a number of weight parameters: an int as given, a float in (0, 1] that
    fraction of in·out (:func:`kmatrix.core.validation.budget_count`)."""
    return budget_count(budget, in_features * out_features)


def solve_budget(family, in_features: int, out_features: int, budget: float, **options) -> dict:
    """The options (``options`` plus the family's size parameter) of the largest member of
    ``family`` of shape out × in with at most ``budget`` weight parameters (an int; a float in
    (0, 1] is that fraction of the dense in·out count).

    Raises ValueError when no member fits (naming the smallest member and its count) and when
    ``options`` already fixes the size parameter.

    Examples
    --------
    >>> kmatrix.nn.solve_budget("kmatrix", 256, 256, 20_000)  # 8,192 parameters per width
    {'width': 2}
    >>> kmatrix.nn.solve_budget("lowrank", 64, 64, 0.25)  # a quarter of 64·64: rank 8
    {'rank': 8}
    """
    spec = get_family(family)
    in_features = check_positive_int(in_features, "in_features")
    out_features = check_positive_int(out_features, "out_features")
    budget = check_budget(budget, in_features, out_features)
    _check_options(spec, options)
    if spec.solve is not None:
        return spec.solve(in_features, out_features, budget, **options)
    shape = f"{in_features}→{out_features}"
    if spec.size_param is None:
        c = spec.count(in_features, out_features, **options)
        if c > budget:
            raise ValueError(
                f"budget: {budget} weight parameters is below every {spec.name} layer {shape}; "
                f"the nearest (its only size) has {c}"
            )
        return dict(options)
    if spec.size_param in options:
        raise ValueError(f"budget: give either budget= or {spec.size_param}=, not both")
    lo, hi = spec.size_range(in_features, out_features, **options)

    def cnt(v):
        return spec.count(in_features, out_features, **{**options, spec.size_param: v})

    if cnt(lo) > budget:
        raise ValueError(
            f"budget: {budget} weight parameters is below every {spec.name} layer {shape}; "
            f"the nearest is {spec.size_param}={lo} with {cnt(lo)} parameters"
        )
    a, b = lo, hi  # largest v in [lo, hi] with cnt(v) <= budget (cnt increasing)
    while a < b:
        mid = (a + b + 1) // 2
        if cnt(mid) <= budget:
            a = mid
        else:
            b = mid - 1
    return {**options, spec.size_param: a}


def _check_options(spec: FamilySpec, options: dict) -> None:
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        allowed = ", ".join(spec.options) or "none"
        raise TypeError(f"{unknown[0]}: not an option of the {spec.name} family (its options: {allowed})")


# ---------------------------------------------------------------------------- init helpers
def _resolve_dtype(dtype):
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not (dtype.is_floating_point or dtype.is_complex):
        raise TypeError(f"dtype: expected a floating-point or complex torch.dtype, got {dtype!r}")
    return dtype


def uniform(shape, bound: float, dtype, device=None, generator=None) -> torch.Tensor:
    """Entries with E|z|² = bound²/3: U(±bound) (real); real and imaginary parts U(±bound/√2)."""
    dtype = _resolve_dtype(dtype)
    if dtype.is_complex:
        real = dtype.to_real()
        re = torch.empty(shape, dtype=real, device=device).uniform_(-1, 1, generator=generator)
        im = torch.empty(shape, dtype=real, device=device).uniform_(-1, 1, generator=generator)
        return torch.complex(re, im) * (bound / math.sqrt(2))
    return torch.empty(shape, dtype=dtype, device=device).uniform_(-bound, bound, generator=generator)


def _fill_(param: torch.Tensor, value: torch.Tensor) -> None:
    with torch.no_grad():
        param.copy_(value.to(param.dtype))


def _log2(n: int) -> int:
    """log2 of n's padded size (at least 1): the log n of the default sizes."""
    return max(1, padded_size(n).bit_length() - 1)


def _int_opt(options, name, default=None):
    v = options.get(name, default)
    return check_positive_int(v, name)


# ---------------------------------------------------------------------------- dense
def _dense_init(W, in_f, out_f, generator, **_):
    _fill_(W.weight, uniform(W.weight.shape, 1 / math.sqrt(in_f), W.dtype, W.device, generator))


def _dense_build(in_f, out_f, dtype, device, generator):
    W = Dense(torch.zeros(out_f, in_f, dtype=_resolve_dtype(dtype), device=device))
    _dense_init(W, in_f, out_f, generator)
    return W


register_family(FamilySpec(
    "dense", _dense_build, _dense_init, lambda i, o: i * o, (), lambda W: {},
    summary="all in·out entries (nn.Linear)",
))


# ---------------------------------------------------------------------------- lowrank
def _lowrank_init(W, in_f, out_f, generator, target=1.0, **_):
    r = W.rank
    _fill_(W.R, uniform(W.R.shape, math.sqrt(3 / in_f), W.dtype, W.device, generator))
    _fill_(W.L, uniform(W.L.shape, math.sqrt(target / r), W.dtype, W.device, generator))


def _check_rank(rank, in_f, out_f, name="rank"):
    rank = check_positive_int(rank, name)
    if rank > min(in_f, out_f):
        raise ValueError(f"{name}: expected at most min(in, out) = {min(in_f, out_f)} for a {in_f}→{out_f} layer, got {rank}")
    return rank


def _lowrank_build(in_f, out_f, dtype, device, generator, rank=None):
    if rank is None:
        raise ValueError("rank: the lowrank family needs rank= (or budget=)")
    rank = _check_rank(rank, in_f, out_f)
    dt = _resolve_dtype(dtype)
    W = LowRank(torch.zeros(out_f, rank, dtype=dt, device=device), torch.zeros(rank, in_f, dtype=dt, device=device))
    _lowrank_init(W, in_f, out_f, generator)
    return W


register_family(FamilySpec(
    "lowrank", _lowrank_build, _lowrank_init, lambda i, o, rank=1: rank * (i + o), ("rank",),
    lambda W: {"rank": W.rank}, "rank", lambda i, o, **_: (1, min(i, o)),
    summary="W = L R, rank r: r(in+out)",
    default=lambda i, o: {"rank": min(_log2(max(i, o)), i, o)},
))


# ---------------------------------------------------------------------------- sparse
def _pattern(pattern, in_f, out_f, device):
    """(rows, cols) of a given pattern: an (out, in) boolean mask or a pair of index tensors."""
    if isinstance(pattern, torch.Tensor) and pattern.dtype == torch.bool:
        if tuple(pattern.shape) != (out_f, in_f):
            raise ValueError(f"pattern: expected a boolean mask of shape {(out_f, in_f)}, got {tuple(pattern.shape)}")
        rows, cols = pattern.nonzero(as_tuple=True)
    elif isinstance(pattern, (tuple, list)) and len(pattern) == 2:
        rows, cols = (torch.as_tensor(p, device=device) for p in pattern)
        if rows.dtype.is_floating_point or cols.dtype.is_floating_point or rows.ndim != 1 or rows.shape != cols.shape:
            raise ValueError("pattern: expected (rows, cols) as two 1-d integer tensors of equal length")
        if len(set(zip(rows.tolist(), cols.tolist()))) != rows.numel():
            raise ValueError("pattern: (rows, cols) lists a location twice")
    else:
        raise TypeError("pattern: expected an (out, in) boolean mask or a (rows, cols) pair of index tensors")
    if rows.numel() == 0:
        raise ValueError("pattern: expected at least one location")
    return rows.to(device), cols.to(device)


def _random_pattern(nnz, in_f, out_f, device, generator):
    """nnz distinct locations, uniformly at random (a fixed pattern: stored as buffers)."""
    flat = torch.randperm(in_f * out_f, generator=generator)[:nnz].sort().values
    return (flat // in_f).to(device), (flat % in_f).to(device)


def _sparse_init(W, in_f, out_f, generator, target=1.0, **_):
    s = W.values.numel()
    _fill_(W.values, uniform((s,), math.sqrt(target * out_f / s), W.dtype, W.device, generator))


def _sparse_parts(in_f, out_f, dtype, device, generator, nnz, pattern):
    if pattern is not None:
        rows, cols = _pattern(pattern, in_f, out_f, device)
        if nnz is not None and nnz != rows.numel():
            raise ValueError(f"nnz: {nnz} disagrees with the pattern's {rows.numel()} locations")
    else:
        if nnz is None:
            raise ValueError("nnz: the sparse family needs nnz= (random fixed pattern), pattern= or budget=")
        nnz = check_positive_int(nnz, "nnz")
        if nnz > in_f * out_f:
            raise ValueError(f"nnz: expected at most in·out = {in_f * out_f}, got {nnz}")
        rows, cols = _random_pattern(nnz, in_f, out_f, device, generator)
    dt = _resolve_dtype(dtype)
    return Sparse(rows, cols, torch.zeros(rows.numel(), dtype=dt, device=device), (out_f, in_f))


def _sparse_build(in_f, out_f, dtype, device, generator, nnz=None, pattern=None):
    W = _sparse_parts(in_f, out_f, dtype, device, generator, nnz, pattern)
    _sparse_init(W, in_f, out_f, generator)
    return W


def _sparse_count(i, o, nnz=1, pattern=None):
    if pattern is not None:
        return int(pattern.sum()) if isinstance(pattern, torch.Tensor) else len(pattern[0])
    return nnz


register_family(FamilySpec(
    "sparse", _sparse_build, _sparse_init, _sparse_count, ("nnz", "pattern"),
    lambda W: {"nnz": W.nnz}, "nnz", lambda i, o, **_: (1, i * o),
    summary="s fixed locations (random or given): s",
    default=lambda i, o: {"nnz": min(4 * max(i, o) * _log2(max(i, o)), i * o)},
))


# ---------------------------------------------------------------------------- sparse + lowrank
def _splr_init(W, in_f, out_f, generator, **_):
    _sparse_init(W.sparse, in_f, out_f, generator, target=0.5)
    _lowrank_init(W.lowrank, in_f, out_f, generator, target=0.5)


def _splr_build(in_f, out_f, dtype, device, generator, rank=None, nnz=None, pattern=None):
    if rank is None:
        raise ValueError("rank: the sparse_lowrank family needs rank= and nnz= (or pattern=), or budget=")
    rank = _check_rank(rank, in_f, out_f)
    S = _sparse_parts(in_f, out_f, dtype, device, generator, nnz, pattern)
    dt = _resolve_dtype(dtype)
    L = LowRank(torch.zeros(out_f, rank, dtype=dt, device=device), torch.zeros(rank, in_f, dtype=dt, device=device))
    W = SparsePlusLowRank(S, L)
    _splr_init(W, in_f, out_f, generator)
    return W


def _splr_solve(in_f, out_f, budget, lowrank_share=0.5, **options):
    """Half the budget (``lowrank_share``) to the rank, the rest to the sparse entries."""
    if "rank" in options or "nnz" in options or "pattern" in options:
        raise ValueError("budget: give either budget= or rank=/nnz=/pattern=, not both")
    lo = (in_f + out_f) + 1
    if budget < lo:
        raise ValueError(
            f"budget: {budget} weight parameters is below every sparse_lowrank layer {in_f}→{out_f}; "
            f"the nearest is rank=1, nnz=1 with {lo} parameters"
        )
    rank = min(max(1, int(budget * lowrank_share) // (in_f + out_f)), min(in_f, out_f))
    nnz = min(budget - rank * (in_f + out_f), in_f * out_f)
    return {**options, "rank": rank, "nnz": nnz}


register_family(FamilySpec(
    "sparse_lowrank", _splr_build, _splr_init,
    lambda i, o, rank=1, nnz=1, pattern=None: rank * (i + o) + _sparse_count(i, o, nnz, pattern),
    ("rank", "nnz", "pattern"), lambda W: {"rank": W.rank, "nnz": W.nnz}, solve=_splr_solve,
    summary="sparse (s) + rank r: s + r(in+out)",
    default=lambda i, o: _splr_solve(i, o, 4 * max(i, o) * _log2(max(i, o))),
))


# ---------------------------------------------------------------------------- toeplitz / circulant
def _toeplitz_init(W, in_f, out_f, generator, **_):
    _fill_(W.vals, uniform(W.vals.shape, 1 / math.sqrt(in_f), W.dtype, W.device, generator))


def _toeplitz_build(in_f, out_f, dtype, device, generator):
    dt = _resolve_dtype(dtype)
    W = Toeplitz(torch.zeros(out_f, dtype=dt, device=device), torch.zeros(in_f, dtype=dt, device=device))
    _toeplitz_init(W, in_f, out_f, generator)
    return W


register_family(FamilySpec(
    "toeplitz", _toeplitz_build, _toeplitz_init, lambda i, o: i + o - 1, (), lambda W: {},
    summary="T[i,j] = t[i−j]: in+out−1",
))


def _circulant_init(W, in_f, out_f, generator, **_):
    _fill_(W.col, uniform(W.col.shape, 1 / math.sqrt(in_f), W.dtype, W.device, generator))


def _circulant_build(in_f, out_f, dtype, device, generator):
    W = Circulant(torch.zeros(max(in_f, out_f), dtype=_resolve_dtype(dtype), device=device))
    _circulant_init(W, in_f, out_f, generator)
    return W


register_family(FamilySpec(
    "circulant", _circulant_build, _circulant_init, lambda i, o: max(i, o), (), lambda W: {},
    summary="corner of an N×N circulant, N = max(in, out): N",
))


# ---------------------------------------------------------------------------- ldr (Toeplitz-like)
def _ldr_init(W, in_f, out_f, generator, **_):
    with torch.no_grad():
        for p in (W.gen_G, W.gen_H):
            p.copy_(uniform(p.shape, math.sqrt(3), W.dtype, W.device, generator))
        fro2 = float(W.to_dense()[:out_f, :in_f].abs().pow(2).sum())
        if fro2 > 0:  # W is bilinear in (G, H): split the rescaling evenly between them
            c = (out_f / 3 / fro2) ** 0.25
            W.gen_G.mul_(c)
            W.gen_H.mul_(c)


def _ldr_build(in_f, out_f, dtype, device, generator, rank=None):
    if rank is None:
        raise ValueError("rank: the ldr family needs rank= (the displacement rank) or budget=")
    n = max(in_f, out_f)
    rank = check_positive_int(rank, "rank")
    if rank > n:
        raise ValueError(f"rank: expected at most max(in, out) = {n}, got {rank}")
    dt = _resolve_dtype(dtype)
    W = LDR.toeplitz_like(torch.zeros(n, rank, dtype=dt, device=device), torch.zeros(n, rank, dtype=dt, device=device))
    _ldr_init(W, in_f, out_f, generator)
    return W


register_family(FamilySpec(
    "ldr", _ldr_build, _ldr_init, lambda i, o, rank=1: 2 * rank * max(i, o), ("rank",),
    lambda W: {"rank": W.rank}, "rank", lambda i, o, **_: (1, max(i, o)),
    summary="Toeplitz-like, displacement rank r (Z_1, Z_−1), N = max(in, out): 2rN",
    default=lambda i, o: {"rank": min(2, max(i, o))},
))


# ---------------------------------------------------------------------------- butterfly / kmatrix
def _twiddle_init(W, in_f, out_f, generator, init="random", stages=1, **_):
    if isinstance(init, str) and init == "random":
        gain = (W.size / in_f) ** (1.0 / (2 * stages)) * 3.0 ** (-1.0 / (2 * stages))
        tw = make_twiddle("random", tuple(W.twiddle.shape), W.dtype, W.device, generator, stage_gain=gain)
    else:
        tw = make_twiddle(init, tuple(W.twiddle.shape), W.dtype if isinstance(init, str) else None,
                          W.device, generator)
    set_twiddle_(W.twiddle, tw)


def _butterfly_init(W, in_f, out_f, generator, init="random", **_):
    _twiddle_init(W, in_f, out_f, generator, init, W.levels)


def _butterfly_build(in_f, out_f, dtype, device, generator, init="random", increasing_stride=True):
    W = Butterfly(in_f, out_f, increasing_stride=increasing_stride, init="identity", dtype=_resolve_dtype(dtype), device=device)
    _butterfly_init(W, in_f, out_f, generator, init)
    return W


def _butterfly_count(i, o, **_):
    n = padded_size(max(i, o))
    return 2 * n * (n.bit_length() - 1)


register_family(FamilySpec(
    "butterfly", _butterfly_build, _butterfly_init, _butterfly_count, ("init", "increasing_stride"),
    lambda W: {"increasing_stride": W.increasing_stride},
    summary="corner of one N×N butterfly, N = 2^⌈log2 max(in,out)⌉: 2N log2 N",
    twiddles=True,
))


def _kmatrix_init(W, in_f, out_f, generator, init="random", **_):
    _twiddle_init(W, in_f, out_f, generator, init, 2 * W.width * W.levels)


def _kmatrix_build(in_f, out_f, dtype, device, generator, width=1, expansion=1, init="random"):
    W = KMatrix(in_f, out_f, width=width, expansion=expansion, init="identity", dtype=_resolve_dtype(dtype), device=device)
    _kmatrix_init(W, in_f, out_f, generator, init)
    return W


def _kmatrix_count(i, o, width=1, expansion=1, **_):
    n = kmatrix_size(i, o, check_positive_int(expansion, "expansion"))
    return 4 * width * n * (n.bit_length() - 1)


register_family(FamilySpec(
    "kmatrix", _kmatrix_build, _kmatrix_init, _kmatrix_count, ("width", "expansion", "init"),
    lambda W: {"width": W.width, "expansion": W.expansion}, "width",
    lambda i, o, **_: (1, 1 << 20),
    summary="K-matrix (BB*)^w_e, N = 2^⌈log2(e·max(in,out))⌉: 4wN log2 N",
    default=lambda i, o: {"width": 1}, twiddles=True,
))


def build(spec: FamilySpec, in_f: int, out_f: int, dtype, device, generator, options: dict) -> StructuredMatrix:
    _check_options(spec, options)
    return spec.build(in_f, out_f, dtype, device, generator, **options)


# ---------------------------------------------------------------------------- monarch
def _monarch_init(W, in_f, out_f, generator, **_):
    """Entry variance r·Var(L)·Var(R) = 1/(3·in): R U(±√(3/p)) (variance 1/p), L variance p/(3·in·r)."""
    p, r = W.in_block, W.rank
    _fill_(W.R, uniform(W.R.shape, math.sqrt(3 / p), W.dtype, W.device, generator))
    _fill_(W.L, uniform(W.L.shape, math.sqrt(p / (in_f * r)), W.dtype, W.device, generator))


def _monarch_nblocks(in_f, out_f, nblocks=None):
    """The k that ``Monarch(in_f, out_f, nblocks)`` uses (its default: ``default_nblocks``)."""
    return default_nblocks(out_f, in_f) if nblocks is None else check_positive_int(nblocks, "nblocks")


def _monarch_build(in_f, out_f, dtype, device, generator, nblocks=None, rank=1):
    W = Monarch(in_f, out_f, nblocks=nblocks, rank=rank, dtype=_resolve_dtype(dtype), device=device,
                generator=generator)
    _monarch_init(W, in_f, out_f, generator)
    return W


def _monarch_count(i, o, nblocks=None, rank=1):
    k = _monarch_nblocks(i, o, nblocks)
    return k * k * rank * (-(-i // k) + -(-o // k))


def _monarch_range(i, o, nblocks=None, **_):
    k = _monarch_nblocks(i, o, nblocks)
    return 1, min(-(-i // k), -(-o // k))


register_family(FamilySpec(
    "monarch", _monarch_build, _monarch_init, _monarch_count, ("nblocks", "rank"),
    lambda W: {"nblocks": W.nblocks, "rank": W.rank}, "rank", _monarch_range,
    summary="P L Pᵀ R, k blocks of rank-r l×p blocks: k²r(p+l)",
))
