"""The kaleidoscope theorems as constructions (survey §5.3.1; Dao et al., ICLR 2020): functions
that take a permutation, a sparse matrix, a sum or product of K-matrices or a linear circuit and
return a :class:`kmatrix.KMatrix` whose dense form equals the input exactly.

=============================  =========================  ======================================
function                       theorem                    width / expansion reached
=============================  =========================  ======================================
benes(perm)                    5.6 (Beneš network)        1 / 1, switches exactly 0/1
kmatrix_sum(A, B, …)           closure under sums         Σ w / 4e (stacked: max w / 2^⌈log k⌉ e)
kmatrix_product(A, B, …)       closure under products     Σ w / max e
sparse_to_kmatrix(S)           5.7                        ≤ 4⌈s/n⌉ / ≤ 4
circuit_to_kmatrix(C)          5.5 (via 4.5 and 5.7)      O(d) / O(s/n)
horizontal_step_to_butterfly   5.7's lemma (H ∈ 𝓑)        one increasing butterfly
fft2d, circular_conv2d,        special constructions      fft2d 1 (2^k sizes), fastfood 2,
fastfood, acdc, haar                                      haar 2, acdc 4, conv2d ≤ 6
=============================  =========================  ======================================
"""

from .benes import benes
from .circuits import circuit_to_kmatrix
from .sparse import sparse_to_kmatrix, theorem_5_7_bound
from .special import acdc, circular_conv2d, fastfood, fft2d, haar
from .step import horizontal_step_to_butterfly, is_horizontal_step
from .sums import kmatrix_product, kmatrix_sum

__all__ = [
    "acdc",
    "benes",
    "circuit_to_kmatrix",
    "circular_conv2d",
    "fastfood",
    "fft2d",
    "haar",
    "horizontal_step_to_butterfly",
    "is_horizontal_step",
    "kmatrix_product",
    "kmatrix_sum",
    "sparse_to_kmatrix",
    "theorem_5_7_bound",
]
