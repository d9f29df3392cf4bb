"""Compile the kmatrix Triton kernels for a CUDA target without a GPU (PTX + ptxas), printing
registers, spills and shared memory per configuration: a check that the compiler accepts the
kernels and that the tiles fit in registers, runnable on a CPU-only machine.

    python benchmarks/triton_compile_check.py [--arch 90] [--sizes 256 1024 16384]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from kmatrix.kernels import _triton_kernels as k
from kmatrix.kernels.triton import BACKWARD_TILE, FORWARD_TILE, _launch_shape


def _ptxas() -> str:
    base = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
    for name in ("ptxas-blackwell", "ptxas"):
        if os.path.exists(os.path.join(base, name)):
            return os.path.join(base, name)
    return "ptxas"


def compile_one(kind, n, factors, batch, xc, tc, arch, dtype="fp32"):
    L = n.bit_length() - 1
    bb, warps = _launch_shape(batch, n, xc, FORWARD_TILE if kind == "fwd" else BACKWARD_TILE,
                              backward=kind == "bwd")
    ptr = f"*{dtype}"
    const = {"N": n, "L": L, "T": factors * L, "INC": 2, "BB": bb, "XC": xc, "TC": tc}
    if kind == "fwd":
        fn, sig = k.forward_kernel, {"tw_ptr": ptr, "x_ptr": ptr, "y_ptr": ptr, "B": "i32", "S": "i32"}
    else:
        fn = k.backward_kernel
        sig = {a: ptr for a in ("tw_ptr", "x_ptr", "g_ptr", "gx_ptr")}
        sig.update({"gtw_ptr": "*fp32", "scratch_ptr": "*fp32"})
        sig.update({"B": "i32", "S": "i32", "TILES": "i32"})
    sig.update({c: "constexpr" for c in const})
    t0 = time.time()
    ck = triton.compile(ASTSource(fn, sig, constexprs=const),
                        target=GPUTarget("cuda", arch, 32), options={"num_warps": warps})
    secs = time.time() - t0
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "k.ptx")
        with open(src, "w") as fh:
            fh.write(ck.asm["ptx"])
        out = subprocess.run([_ptxas(), "-v", f"--gpu-name=sm_{arch}a", src, "-o",
                              os.path.join(d, "k.o")], capture_output=True, text=True, check=False).stderr
    regs = re.search(r"Used (\d+) registers", out)
    spill = re.search(r"(\d+) bytes spill stores", out)
    print(f"{kind:3s} {dtype} N={n:6d} F={factors} xc={int(xc)} tc={int(tc)} BB={bb:3d} warps={warps:2d}: "
          f"regs={regs.group(1) if regs else '?'} spill_bytes={spill.group(1) if spill else '?'} "
          f"shared={ck.metadata.shared} compile={secs:.1f}s", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", type=int, default=90)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    p.add_argument("--factors", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small configurations of every kind")
    a = p.parse_args()
    if a.quick:  # every code path (complex, real twiddle on complex x, half types) at N = 64
        for kind in ("fwd", "bwd"):
            for xc, tc, dt in ((1, 1, "fp32"), (1, 0, "fp32"), (0, 0, "bf16"), (0, 0, "fp16")):
                compile_one(kind, 64, 2, 16, bool(xc), bool(tc), a.arch, dt)
        raise SystemExit(0)
    for n in a.sizes:
        for kind in ("fwd", "bwd"):
            compile_one(kind, n, a.factors, 16384, False, False, a.arch)
        if 2 * n <= 32768:
            compile_one("fwd", n, a.factors, 16384, True, True, a.arch)
