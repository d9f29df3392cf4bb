"""The Examples sections of the docstrings run as doctests (every kmatrix module), and every public
class and function has one.

Examples assume ``import torch`` and ``import kmatrix`` (both in the doctest namespace, as the
API reference says); numbers are printed at fixed precision so the expected output is stable."""

import doctest
import importlib
import importlib.util
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


# modules whose examples need an optional dependency (importing them does not)
NEEDS = {"kmatrix.circuits.draw": "matplotlib"}

WITH_EXAMPLES = [name for name in ["kmatrix", *MODULES] if _tests(name)]


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_doctests(name, monkeypatch, tmp_path):
    if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"{name}: its examples need {NEEDS[name]} (the plot / dev extra)")
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
    "kmatrix.learn.Family",
    "kmatrix.learn.FitDivergedWarning",
    "kmatrix.learn.History",
    "kmatrix.learn.Recovery",
    "kmatrix.learn.Target",
    "kmatrix.learn.error_gradient",
    "kmatrix.learn.recover",
}

DOCUMENTED = documented_objects()


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_public_object_has_example(name):
    has = ">>>" in (inspect.getdoc(DOCUMENTED[name]) or "")
    if name in MISSING_EXAMPLES:
        assert not has, f"{name} has an example now: remove it from MISSING_EXAMPLES"
    else:
        assert has, (
            f"{name}: add an Examples section (numpy style, '>>>' lines that run as doctests, numbers "
            "printed at fixed precision) to its docstring"
        )
