"""
Saving and loading
==================

``kmatrix.save`` writes a self-describing file (family, configuration, parameters) atomically;
``kmatrix.load`` validates everything it reads and rebuilds the same structured matrix, with
shared parameters and ``requires_grad`` flags as they were.
"""

import os
import sys
import tempfile

import torch

import kmatrix
import kmatrix.testing

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
n = 32 if SMALL else 1024
torch.manual_seed(0)

# %%
# A composition that reaches one parameter twice, with a frozen twiddle.
B = kmatrix.Butterfly(n)
B.twiddle.requires_grad_(False)
M = 0.5 * (B + B.T) @ kmatrix.Diagonal(torch.randn(n))

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "m.kmx")
    kmatrix.save(M, path)  # temp file + fsync + rename: never a half-written file
    print(f"m.kmx: {os.path.getsize(path)} bytes")
    M2 = kmatrix.load(path)

# %%
# The loaded matrix is the same: class, products bit for bit, sharing and flags.
x = torch.randn(8, n)
assert type(M2) is type(M)
assert torch.equal(M(x), M2(x))
print(type(M2).__name__, [type(f).__name__ for f in M2.factors])
assert len(list(M2.parameters())) == len(list(M.parameters()))
assert [p.requires_grad for p in M2.parameters()] == [p.requires_grad for p in M.parameters()]

# %%
# The same checks as a function: ``kmatrix.testing.check_save_load`` is the round-trip
# contract every family in the test battery passes.
kmatrix.testing.check_save_load(M)

# %%
# ``load`` trusts nothing in the file: a damaged file is one ValueError naming the file.
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "bad.kmx")
    with open(path, "wb") as f:
        f.write(b"not a kmatrix file")
    try:
        kmatrix.load(path)
    except ValueError as e:
        print("ValueError:", str(e)[:70], "...")
    else:
        raise AssertionError("a damaged file loaded")
