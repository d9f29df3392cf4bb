import pytest
import torch


@pytest.fixture
def gen():
    """A fresh generator per test, seeded from the test's own randomness (never zeros)."""
    g = torch.Generator()
    g.manual_seed(torch.randint(0, 2**31 - 1, ()).item())
    return g
