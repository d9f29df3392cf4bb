"""``kmatrix plot``: pictures of the structures.

* ``kmatrix plot sparsity --n 16 [--out file.png]`` writes the survey's Figure 4: the allowed
  nonzero locations of each butterfly factor of a BB* matrix M = B·B* of size n, drawn in the
  order of the matrix product, M = B_n^(n) ⋯ B_2^(n) · (B_2^(n))* ⋯ (B_n^(n))*: the factors of
  B in red, those of B* in blue. The pattern is read off a random K-matrix of width 1 (every
  2×2 block dense), so it is exactly the Beneš pattern the product uses.
"""

from __future__ import annotations

import math

from ...core.files import atomic_savefig


def sparsity_figure(n: int, path: str) -> str:
    """Write the Figure-4 PNG for size n (a power of two ≥ 2) to ``path``; returns ``path``."""
    import torch

    from ..._optional import pyplot

    plt = pyplot()

    from ...families.kaleidoscope import KMatrix

    gen = torch.Generator().manual_seed(0)
    K = KMatrix(n, width=1, init="random", dtype=torch.float64, generator=gen)
    factors = K.factors()  # application order: B* strides n/2..1, then B strides 1..n/2
    ordered = list(reversed(factors))  # matrix-product order, left to right
    L = K.levels
    colours = {"B": "#d62728", "B*": "#1f77b4"}
    cols = len(ordered)
    fig, axes = plt.subplots(1, cols, figsize=(2.2 * cols, 2.6), squeeze=False)
    for idx, (ax, (kind, mat)) in enumerate(zip(axes[0], ordered)):
        rows_idx, cols_idx = torch.nonzero(mat, as_tuple=True)
        ax.scatter(cols_idx.numpy(), rows_idx.numpy(), s=max(1.0, 400.0 / n), c=colours[kind], marker="o")
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        # block size of this factor: B part (left half) n, n/2, ..., 2; B* part 2, ..., n
        k = n >> idx if idx < L else 2 << (idx - L)
        label = f"$B_{{{k}}}^{{({n})}}$" if kind == "B" else f"$(B_{{{k}}}^{{({n})}})^*$"
        ax.set_title(label, fontsize=11)
    fig.suptitle(
        f"Sparsity pattern of the factors of a BB* matrix, n = {n} "
        "(red: factors of B, blue: factors of B*)",
        fontsize=11,
    )
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    return path


def _sparsity(args) -> int:
    n = args.n
    if n < 2 or n & (n - 1):
        raise SystemExit(f"kmatrix plot sparsity: --n must be a power of two ≥ 2, got {n}")
    if n > 256:
        raise SystemExit(f"kmatrix plot sparsity: --n {n} is too large to draw (at most 256)")
    path = args.out or f"bbstar_sparsity_n{n}.png"
    sparsity_figure(n, path)
    print(f"wrote {path} ({2 * int(math.log2(n))} factors of a {n}×{n} BB* matrix)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("plot", help="draw structures as PNG files (e.g. the BB* sparsity pattern)",
                       epilog="example: kmatrix plot sparsity --n 16")
    psub = p.add_subparsers(dest="plot", metavar="WHAT", required=True)
    s = psub.add_parser("sparsity", help="Figure 4: nonzero pattern of each factor of a BB* matrix",
                        epilog="example: kmatrix plot sparsity --n 16 --out bbstar.png")
    s.add_argument("--n", type=int, default=16, help="matrix size, a power of two (default 16)")
    s.add_argument("--out", default=None, help="output PNG (default bbstar_sparsity_n<N>.png)")
    s.set_defaults(func=_sparsity)
