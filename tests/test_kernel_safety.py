"""The compiled butterfly kernel never takes the process down: wrong arguments, fewer OpenMP
threads than asked, allocation failure.

Each check runs in a child process (``sys.executable`` with this worktree first on the path),
so an abort or a segfault is reported as a failed test with its signal, not as a dead runner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kmatrix.kernels import cpu

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True, scope="module")
def _kernel_built():
    if not cpu.available():  # pragma: no cover - test_kernels asserts the kernel builds
        pytest.skip("the fused kernel is not available on this machine")


def run_child(args: list[str], env: dict | None = None, timeout: float = 300):
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(proc) -> str:
    how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    return f"child died ({how}); stderr tail:\n{proc.stderr[-2000:]}"


def test_wrong_arguments_raise_python_errors(gen):
    # Every entry into compiled code (the custom ops forward and backward, the ctypes wrappers)
    # with wrong dtypes, shapes, devices, layouts, stride orders: a Python error naming the
    # argument. Valid unusual layouts (strided, conjugated, expanded) match the reference.
    # Cases run in one child; if it crashes, the unreported cases are re-run one per child to
    # name the culprit.
    import _kernel_fuzz_cases as fuzz

    seed = int(torch_seed(gen))
    names = list(fuzz.all_cases(seed))
    script = str(TESTS / "_kernel_fuzz_cases.py")
    proc = run_child([script, str(seed), *names])
    reports = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        reports[rec["case"]] = rec
    crashed = []
    if proc.returncode != 0:
        for name in names:
            if name in reports:
                continue
            one = run_child([script, str(seed), name])
            if one.returncode != 0:
                crashed.append(f"{name}: {describe(one)}")
            else:
                reports[name] = json.loads(one.stdout.splitlines()[-1])
    wrong = [f"{r['case']}: {r['detail']}" for r in reports.values() if r["outcome"] == "wrong"]
    assert not crashed, "\n".join(crashed)
    assert not wrong, "\n".join(wrong)
    assert len(reports) == len(names)
    outcomes = [r["outcome"] for r in reports.values()]
    assert outcomes.count("ok") >= 4 and outcomes.count("raised") >= 30


def torch_seed(gen) -> int:
    import torch

    return int(torch.randint(0, 2**31 - 1, (1,), generator=gen))


BACKWARD_UNDER_OMP = textwrap.dedent(
    """
    import torch
    torch.set_num_threads(4)  # ask for more threads than OpenMP will grant
    from kmatrix.kernels import set_backend
    from kmatrix.nn import KLinear
    torch.manual_seed({seed})
    m = KLinear(1024, 1024)
    x = torch.randn(512, 1024)
    grads = []
    for backend in ("fused", "reference"):
        set_backend(backend)
        m.zero_grad()
        m(x).square().sum().backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    err = max(((a - b).norm() / b.norm()).item() for a, b in zip(*grads))
    print("max relative gradient difference", err)
    assert err < 1e-4, err
    """
)


@pytest.mark.parametrize("env", [{"OMP_THREAD_LIMIT": "1"}, {"OMP_DYNAMIC": "true"}])
def test_backward_when_openmp_grants_fewer_threads(env, gen):
    # Per-thread twiddle-gradient accumulators used to be sized by the requested thread count
    # and all summed: with fewer threads granted, the sum read unallocated slots (SIGSEGV).
    # Gradients must also be right: every tile counted exactly once (float32, 10 stages x 2
    # factors, sums over 512 rows: 1e-4 relative vs the reference path).
    proc = run_child(["-c", BACKWARD_UNDER_OMP.format(seed=torch_seed(gen))], env=env)
    assert proc.returncode == 0, describe(proc)


ALLOCATION_FAILURE = textwrap.dedent(
    """
    import resource
    import torch
    torch.set_num_threads(2)
    from kmatrix.kernels import cpu
    L, B = 18, 64  # backward scratch: ~0.3 GB per thread for N = 2^18; 2 tiles -> 2 threads
    tw = torch.randn(1, 1, L, 2 ** (L - 1), 2, 2) / 2 ** 0.5
    x = torch.randn(B, 1, 2 ** L)
    g = torch.randn_like(x)
    small_tw, small_x = torch.randn(1, 1, 10, 512, 2, 2), torch.randn(256, 1, 1024)
    cpu.backward(small_tw, small_x, small_x.clone(), [True])  # start the 2-thread pool first
    vm = [l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]
    limit = int(vm) * 1024 + 160 * 2**20  # room for the outputs, not for the scratch
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIMIT_AS_HARD))
    for attempt in range(2):
        try:
            cpu.backward(tw, x, g, [True])
        except MemoryError as exc:
            print("MemoryError", exc)
        else:
            print("no error")
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    gt, gx = cpu.backward(small_tw, small_x, small_x.clone(), [True])
    print("later call ok", bool(torch.isfinite(gx).all()))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_allocation_failure_raises_memory_error():
    # std::bad_alloc inside the OpenMP region used to reach std::terminate (SIGABRT). Now each
    # thread catches it, the C boundary returns an error code and Python raises MemoryError;
    # the process (and the kernel) stay usable.
    import resource

    script = ALLOCATION_FAILURE.replace(
        "resource.RLIMIT_AS_HARD", str(resource.getrlimit(resource.RLIMIT_AS)[1])
    )
    proc = run_child(["-c", script])
    assert proc.returncode == 0, describe(proc)
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("MemoryError") for line in lines) == 2, proc.stdout
    assert "could not allocate" in proc.stdout
    assert lines[-1] == "later call ok True", proc.stdout
