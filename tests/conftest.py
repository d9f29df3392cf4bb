"""Test-wide fixtures.

Random inputs are drawn fresh on every run: the session seed comes from the OS unless
``KMATRIX_TEST_SEED`` is set, and it is printed in pytest's header so a failure can be replayed
with ``KMATRIX_TEST_SEED=<seed> python -m pytest ...``."""

import os
import zlib

import pytest
import torch

SESSION_SEED = int(os.environ.get("KMATRIX_TEST_SEED") or int.from_bytes(os.urandom(4), "little"))


def pytest_report_header(config):
    return f"kmatrix test seed: KMATRIX_TEST_SEED={SESSION_SEED}"


@pytest.fixture
def gen(request):
    """A generator per test, seeded from the session seed and the test's id (never zeros)."""
    g = torch.Generator()
    g.manual_seed(SESSION_SEED ^ zlib.crc32(request.node.nodeid.encode()))
    return g


@pytest.fixture(autouse=True)
def _seed_global_rng(request):
    """The global torch RNG too, so tests using torch.randn directly are fresh and replayable."""
    torch.manual_seed(SESSION_SEED ^ zlib.crc32(request.node.nodeid.encode()) ^ 0x5EED)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus != 0:  # -q hides the header: repeat the seed where a failure is read
        terminalreporter.write_line(f"kmatrix test seed: KMATRIX_TEST_SEED={SESSION_SEED}")
