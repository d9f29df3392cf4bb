"""kmatrix.testing ships the battery: a user's own family runs it with check_family; a correct
family passes, deliberately wrong ones fail the contract they break."""

import subprocess
import sys

import pytest
import torch

import kmatrix
from kmatrix.testing import check_family


class Bidiagonal(kmatrix.StructuredMatrix):
    """W[i, i] = d[i], W[i, i−1] = e[i−1] (a user's family, defined outside the package)."""

    def __init__(self, d, e):
        super().__init__((d.shape[0], d.shape[0]), d.dtype, d.device)
        self.d = torch.nn.Parameter(d.clone())
        self.e = torch.nn.Parameter(e.clone())

    @property
    def flops(self):
        n = self.shape[0]
        # n + (n−1) multiplications, n−1 additions (complex: 6 and 2 real flops each)
        return 6 * n + 8 * (n - 1) if self.is_complex else n + 2 * (n - 1)

    def _matvec(self, x):
        y = x * self.d
        return torch.cat([y[:, :1], y[:, 1:] + x[:, :-1] * self.e], dim=1)

    def _config(self):
        return {"d": self.d.detach(), "e": self.e.detach()}


class WrongTranspose(Bidiagonal):
    """A wrong native transpose (forgets the subdiagonal)."""

    def _rmatvec(self, y):
        return y * self.d


class StaleCache(Bidiagonal):
    """Caches the dense matrix keyed on the parameters' version counters, which writes through
    ``.data`` do not bump (the bug issue 11 found in four families)."""

    def _matvec(self, x):
        key = (self.d._version, self.e._version)
        hit = self.__dict__.get("_mine")
        if hit is None or hit[0] != key:
            hit = (key, torch.diag(self.d) + torch.diag(self.e, -1))
            self.__dict__["_mine"] = hit
        return x @ hit[1].T


class CutsGraph(Bidiagonal):
    """Scaling by building new parameters from detached values, as the operators once did."""


def _cut_scale(self, scalar):
    return Bidiagonal(self.d.detach() * scalar, self.e.detach() * scalar)


def make(cls):
    def _make(n, dt, g):
        d = torch.randn(n, generator=g, dtype=torch.float64).to(dt)
        e = torch.randn(n - 1, generator=g, dtype=torch.float64).to(dt)
        return cls(d, e)

    return _make


def reference(M):
    d = M.d.detach().to(torch.complex128)
    e = M.e.detach().to(torch.complex128)
    return torch.diag(d) + torch.diag(e, -1)


def test_user_family_passes_the_battery():
    check_family(make(Bidiagonal), reference, name="Bidiagonal")


@pytest.mark.parametrize(
    "cls,check",
    [(WrongTranspose, "transpose_and_adjoint"), (StaleCache, "no_stale_cache")],
)
def test_wrong_family_fails(cls, check):
    with pytest.raises(AssertionError, match=check):
        check_family(make(cls), reference, name=cls.__name__)


def test_wrong_reference_fails():
    def bad_reference(M):
        return reference(M).T  # the transpose, not the matrix

    with pytest.raises(AssertionError, match="to_dense"):
        check_family(make(Bidiagonal), bad_reference, name="Bidiagonal")


def test_graph_cutting_operator_fails(monkeypatch):
    """If ``c * W`` built new parameters (the old behaviour), the composition contract fails."""
    from kmatrix.core import compose

    monkeypatch.setattr(compose, "scale", lambda a, s: _cut_scale(a, s))
    with pytest.raises(AssertionError, match="no gradient reaches"):
        check_family(make(Bidiagonal), reference, name="Bidiagonal", dtypes=(torch.float64,))


def test_flops_check_is_independent():
    """An entry's independent flops count is compared exactly."""
    with pytest.raises(AssertionError, match="independent count"):
        check_family(make(Bidiagonal), reference, dtypes=(torch.float64,), flops=lambda M: 3 * M.shape[0])


def test_importable_without_pytest():
    code = "import sys; sys.modules['pytest'] = None; import kmatrix.testing; print(len(kmatrix.testing.CHECKS))"
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 10
