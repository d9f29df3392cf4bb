"""Export of models holding K-matrix / butterfly layers: torch.export, the decomposition into
plain aten ops (the blocked "torch" path), ONNX run by onnxruntime, torch.jit.trace.

Tolerance (normwise relative, ‖a − b‖ / ‖b‖, float32): the exported graphs compute the same
product as eager with another association — the decomposition multiplies radix-2^r block
matrices (entries are products of r twiddles, summed by a BLAS) where the kernel applies the
2×2 stages one by one — so they differ by rounding only: O(L·eps) per butterfly with L ≤ 7
stages, eps = 6e-8, 2 butterflies per K-matrix factor, twiddles of unit-norm columns (norms
stay O(1)), i.e. ~1e-6. The bound 1e-5 leaves a factor 10 and still catches any wrong stage
order, transpose or padding (those give errors of order 1). Paths that run the same kernel
(ExportedProgram.module() with the custom op kept) must agree exactly.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import kmatrix
from kmatrix.nn import KLinear


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return ((a - b).norm() / b.norm()).item()


class ButterflyNet(nn.Module):
    """A Butterfly-based block: corner butterfly 100 → 64 (padding to 128 and truncation),
    a stacked butterfly (2 heads of 32), a KMatrix with width 2, a bias and nonlinearities."""

    def __init__(self, gen):
        super().__init__()
        self.b1 = kmatrix.Butterfly(100, 64, generator=gen)
        self.b2 = kmatrix.Butterfly(32, nstack=2, increasing_stride=False, generator=gen)
        self.k = kmatrix.KMatrix(64, 48, width=2, generator=gen)
        self.bias = nn.Parameter(torch.randn(48, generator=gen))

    def forward(self, x):
        return self.k(torch.tanh(self.b2(torch.relu(self.b1(x))))) + self.bias


def _models(gen):
    mlp = nn.Sequential(KLinear(100, 64, generator=gen), nn.ReLU(), KLinear(64, 10, width=2,
                        generator=gen))  # fmt: skip
    return {"klinear-mlp": mlp, "butterfly-net": ButterflyNet(gen)}


@pytest.fixture
def models(gen):
    return {name: m.eval() for name, m in _models(gen).items()}


def _kmatrix_ops(graph) -> list[str]:
    return [str(n.target) for n in graph.nodes if n.op == "call_function" and "kmatrix" in str(n.target)]


def test_torch_export_keeps_the_op_and_decomposes(models, gen):
    for name, m in models.items():
        x = torch.randn(8, 100, generator=gen)
        x2 = torch.randn(5, 100, generator=gen)  # another batch: dynamic batch dimension
        expected, expected2 = m(x).detach(), m(x2).detach()
        batch = torch.export.Dim("batch")
        ep = torch.export.export(m, (x,), dynamic_shapes=({0: batch},))
        assert _kmatrix_ops(ep.graph), name  # the custom op is kept (the kernel runs)
        assert torch.equal(ep.module()(x), expected), name
        dec = ep.run_decompositions(kmatrix.kernels.decompositions())
        assert not _kmatrix_ops(dec.graph), name  # plain aten ops only
        assert rel(dec.module()(x), expected) <= 1e-5, name
        assert rel(dec.module()(x2), expected2) <= 1e-5, name
        assert rel(ep.module()(x2), expected2) == 0, name


def test_export_does_not_poison_eager_caches(gen):
    # Tracing runs the blocked path on fake tensors: its cached gather indices must stay real.
    layer = KLinear(64, 64, generator=gen)
    ep = torch.export.export(layer, (torch.randn(3, 64, generator=gen),))
    ep.run_decompositions(kmatrix.kernels.decompositions()).module()(torch.randn(3, 64))
    x = torch.randn(4, 1, 64, generator=gen)
    tw = layer.weight.twiddle.detach().reshape(2, 1, 6, 32, 2, 2)
    y = kmatrix.kernels.butterfly_multiply(tw, x, [False, True], backend="torch")
    assert type(y) is torch.Tensor
    assert rel(y, kmatrix.kernels.butterfly_multiply(tw, x, [False, True], backend="reference")) <= 1e-5


def test_onnx_export_runs_in_onnxruntime(models, gen, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    # the Butterfly-based net (Butterfly corner, stacked Butterfly, KMatrix width 2); KLinear
    # goes through ONNX in the next test (one export each: ONNX export takes seconds)
    for name in ("butterfly-net",):
        m = models[name]
        x = torch.randn(8, 100, generator=gen)
        expected = m(x).detach()
        path = tmp_path / f"{name}.onnx"
        # no decomposition given: the op is registered in torch's global decomposition table
        program = torch.onnx.export(m, (x,), dynamo=True, verbose=False,
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))  # fmt: skip
        program.save(str(path))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = session.get_inputs()[0].name
        for xb in (x, torch.randn(3, 100, generator=gen)):
            (out,) = session.run(None, {feed: xb.numpy()})
            assert rel(torch.from_numpy(out), m(xb).detach()) <= 1e-5, name
        assert out.shape == (3, expected.shape[1])


def test_onnx_export_of_a_decomposed_program(gen, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    m = KLinear(32, 16, generator=gen).eval()
    x = torch.randn(4, 32, generator=gen)
    ep = torch.export.export(m, (x,)).run_decompositions(kmatrix.kernels.decompositions())
    path = tmp_path / "klinear.onnx"
    torch.onnx.export(ep, dynamo=True, verbose=False).save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert rel(torch.from_numpy(out), m(x).detach()) <= 1e-5


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_jit_trace_raises_a_clear_error(models, gen):
    # TorchScript's tracer cannot record an op with a bool[] argument: say so, name the way out
    # (the lean no-grad path must not be taken either: it would trace as an empty tensor).
    for m in models.values():
        x = torch.randn(8, 100, generator=gen)
        for grad in (False, True):
            with torch.set_grad_enabled(grad), pytest.raises(RuntimeError, match="torch.export"):
                torch.jit.trace(m, (x,), check_trace=False)
