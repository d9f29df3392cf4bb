"""The shared battery: every family in kmatrix.testing.ZOO × dtype passes every contract of
kmatrix.testing.contracts (the same functions ``kmatrix.testing.check_family`` runs for a user's
family), and every registered composition rule passes ``check_rule``."""

import pytest

from kmatrix.testing import CHECKS, RULE_EXAMPLES, ZOO, check_rule, missing_rule_examples

CASES = [(name, e, dt) for name in CHECKS for e in ZOO for dt in e.dtypes]
IDS = [f"{name}-{e.name}-{str(dt).replace('torch.', '')}" for name, e, dt in CASES]


@pytest.mark.parametrize("check,entry,dtype", CASES, ids=IDS)
def test_contract(check, entry, dtype, gen):
    CHECKS[check](entry, dtype, gen)


RULES = sorted(RULE_EXAMPLES.items(), key=lambda kv: (kv[0][0], kv[0][1].__name__, kv[0][2].__name__))


@pytest.mark.parametrize("key,example", RULES, ids=[f"{op}-{a.__name__}-{b.__name__}" for (op, a, b), _ in RULES])
def test_composition_rule(key, example, gen):
    """Gradients reach every operand parameter through the operator, and merge() applies it."""
    a, b = example(gen)
    assert isinstance(a, key[1]) and isinstance(b, key[2])
    check_rule(key[0], a, b, gen)


def test_every_rule_has_an_example():
    assert not missing_rule_examples(), f"rules without an example in kmatrix.testing.rules: {missing_rule_examples()}"
