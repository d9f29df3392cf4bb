"""The Examples sections of the docstrings run as doctests (every kmatrix module), and every public
class and function has one.

Examples assume ``import torch`` and ``import kmatrix`` (both in the doctest namespace, as the
API reference says); numbers are printed at fixed precision so the expected output is stable."""

import doctest
import importlib
import inspect
import pkgutil

import pytest
import torch
from _public_api import documented_objects

import kmatrix

MODULES = sorted(m.name for m in pkgutil.walk_packages(kmatrix.__path__, "kmatrix."))
FINDER = doctest.DocTestFinder(exclude_empty=True)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _tests(name):
    module = importlib.import_module(name)
    return [t for t in FINDER.find(module, name, globs={}) if t.examples]


WITH_EXAMPLES = [name for name in ["kmatrix", *MODULES] if _tests(name)]


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_doctests(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # examples that save files write them here
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in _tests(name):
        test.globs.update({"torch": torch, "kmatrix": kmatrix, "__name__": "doctest"})
        torch.manual_seed(0)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctest examples failed (output above)"


# Public classes and functions still without an Examples section. The list may only shrink: an
# entry that has gained an example must be removed (checked below).
MISSING_EXAMPLES: set[str] = {
    "kmatrix.circuits.Circuit.__call__",
    "kmatrix.circuits.FractionField",
    "kmatrix.circuits.GF",
    "kmatrix.circuits.Gate",
    "kmatrix.circuits.Wire",
    "kmatrix.circuits.Wire.__add__",
    "kmatrix.circuits.Wire.__mul__",
    "kmatrix.circuits.Wire.__rmul__",
    "kmatrix.circuits.draw",
    "kmatrix.circuits.evaluate",
    "kmatrix.circuits.fix_inputs",
    "kmatrix.circuits.from_sparse_factors",
    "kmatrix.circuits.gradient",
    "kmatrix.circuits.gradient_circuit",
    "kmatrix.circuits.is_prime",
    "kmatrix.circuits.linearize",
    "kmatrix.circuits.loss_gradient",
    "kmatrix.circuits.sparse_factor_triplets",
    "kmatrix.circuits.to_dense",
    "kmatrix.circuits.to_sparse_factors",
    "kmatrix.circuits.transpose",
    "kmatrix.circuits.transpose_baur_strassen",
    "kmatrix.circuits.transpose_reverse",
}

DOCUMENTED = documented_objects()


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_public_object_has_example(name):
    has = ">>>" in (inspect.getdoc(DOCUMENTED[name]) or "")
    if name in MISSING_EXAMPLES:
        assert not has, f"{name} has an example now: remove it from MISSING_EXAMPLES"
    else:
        assert has, f"{name}: add an Examples section to its docstring"
