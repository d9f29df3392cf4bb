"""The fields a circuit is evaluated over, and the constants it may hold.

Survey §2.5 (Definition 2.7) lets a circuit work over any field 𝔽 and use constants of 𝔽 for
free. kmatrix evaluates circuits over

* floating point (torch, float64/complex128 or any dtype): constants become numbers of that dtype;
* ℚ exactly, ``field="fraction"`` (:class:`fractions.Fraction`);
* a prime field GF(p) exactly, ``field=GF(p)`` (footnote 4 of the survey: the finite fields).

**Constants.** A circuit stores its constants as plain Python numbers, normalised by
:func:`normalize_constant`: ``int`` and :class:`~fractions.Fraction` are *exact rationals*; an
integral ``float`` becomes an ``int``; any other ``float`` is kept as a float and treated as a
possibly-irrational approximation (e.g. cos(π/4)); a ``complex`` with zero imaginary part becomes
real, otherwise it stays complex. Exact fields accept only the exact rationals; a non-integral
float or a complex constant raises a ``ValueError`` that names the constant and what to pass
instead. A circuit built *over* GF(p) (e.g. the number-theoretic transform) holds residues
mod p and is evaluated in that field only.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "FRACTION",
    "GF",
    "FractionField",
    "is_exact_rational",
    "is_prime",
    "normalize_constant",
    "resolve_field",
]


def is_prime(p: int) -> bool:
    """Deterministic Miller–Rabin for p < 3.3·10²⁴ (first 13 prime bases); for larger p the same
    test is a strong-probable-prime test (error probability < 4⁻¹³).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> circuits.is_prime(7), circuits.is_prime(2**61 - 1), circuits.is_prime(91)
    (True, True, False)
    """
    if p < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    for q in small:
        if p % q == 0:
            return p == q
    d, r = p - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in small:
        x = pow(a, d, p)
        if x in (1, p - 1):
            continue
        for _ in range(r - 1):
            x = x * x % p
            if x == p - 1:
                break
        else:
            return False
    return True


def _pollard_rho(n: int) -> int:
    """A non-trivial factor of the odd composite n (Pollard's rho with Brent's cycle finding)."""
    for c in range(1, n):
        x = y = 2
        d = 1
        while d == 1:
            x = (x * x + c) % n
            y = (y * y + c) % n
            y = (y * y + c) % n
            d = math.gcd(abs(x - y), n)
        if d != n:
            return d
    raise AssertionError(f"no factor found for {n}")  # pragma: no cover - n prime


def prime_factors(n: int) -> list[int]:
    """The distinct prime factors of n ≥ 1, ascending: trial division by primes < 1000, then
    Pollard's rho with :func:`is_prime` on what is left (fast for n < 2^64)."""
    if n < 1:
        raise ValueError(f"n: expected a positive int, got {n}")
    out: set[int] = set()
    for q in range(2, 1000):
        if n % q == 0:
            out.add(q)
            while n % q == 0:
                n //= q
    stack = [n] if n > 1 else []
    while stack:
        m = stack.pop()
        if is_prime(m):
            out.add(m)
            continue
        d = _pollard_rho(m)
        stack += [d, m // d]
    return sorted(out)


def is_exact_rational(c: Any) -> bool:
    """True for the constants an exact field accepts: ``int`` and ``Fraction``."""
    return isinstance(c, (int, Fraction)) and not isinstance(c, bool)


def normalize_constant(value: Any, name: str = "constant") -> int | Fraction | float | complex:
    """The canonical Python form of a circuit constant (see the module docstring).

    Accepts Python / numpy numbers, 0-d tensors and Fractions; raises ``TypeError`` for anything
    else and ``ValueError`` for NaN or infinity.
    """
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (Fraction, numbers.Number)):
        try:
            value = value.item()
        except Exception as exc:  # pragma: no cover - e.g. a multi-element tensor
            raise TypeError(f"{name}: expected a scalar, got {type(value).__name__}") from exc
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name}: expected a finite number, got {v}")
        return int(v) if v.is_integer() else v
    if isinstance(value, (complex, np.complexfloating)):
        v = complex(value)
        if not (math.isfinite(v.real) and math.isfinite(v.imag)):
            raise ValueError(f"{name}: expected a finite number, got {v}")
        if v.imag == 0:
            return normalize_constant(v.real, name)
        return v
    if isinstance(value, numbers.Rational):
        return normalize_constant(Fraction(int(value.numerator), int(value.denominator)), name)
    raise TypeError(
        f"{name}: expected a number (int, Fraction, float or complex), got {type(value).__name__}"
    )


def _exact_error(c: Any, name: str, field: str) -> ValueError:
    if isinstance(c, complex):
        why = "is complex"
    else:
        why = "is a non-integral float (possibly an approximation of an irrational number)"
    return ValueError(
        f"{name}: the constant {c!r} {why}, so it has no exact value in {field}; "
        "exact fields accept int and fractions.Fraction constants only"
    )


class FractionField:
    """ℚ with exact arithmetic on :class:`fractions.Fraction` (``field="fraction"``).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.Circuit(1)
    >>> node = c.output(c.x[0] / 3)
    >>> c.evaluate([1], field=circuits.FRACTION)
    [Fraction(1, 3)]
    """

    name = "fraction"
    characteristic = 0

    def convert(self, c: Any, name: str = "constant") -> Fraction:
        c = normalize_constant(c, name)
        if not is_exact_rational(c):
            raise _exact_error(c, name, "ℚ (fractions)")
        return Fraction(c)

    zero = Fraction(0)
    one = Fraction(1)

    @staticmethod
    def add(a, b):
        return a + b

    @staticmethod
    def mul(a, b):
        return a * b

    @staticmethod
    def neg(a):
        return -a

    @staticmethod
    def div(a, b):
        if b == 0:
            raise ZeroDivisionError("division by zero while evaluating the circuit over ℚ")
        return a / b

    def __repr__(self) -> str:
        return "FractionField()"

    def __eq__(self, other) -> bool:
        return isinstance(other, FractionField)

    def __hash__(self) -> int:
        return hash("fraction")


FRACTION = FractionField()


class GF:
    """The prime field GF(p) = ℤ/pℤ; elements are ints in [0, p).

    ``GF(p)`` checks that p is a prime (Miller–Rabin, :func:`is_prime`). A rational constant a/b
    maps to a·b⁻¹ mod p (an error if p divides b).

    Examples
    --------
    The number-theoretic transform: the FFT circuit over GF(17), evaluated exactly:

    >>> from kmatrix import circuits
    >>> f = circuits.fft(4, field=circuits.GF(17))
    >>> f.evaluate([1, 0, 0, 0], field=circuits.GF(17))
    [1, 1, 1, 1]
    >>> circuits.Circuit(1, field=circuits.GF(7)).field
    GF(7)
    """

    def __init__(self, p: int):
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
            raise TypeError(f"p: expected a prime integer, got {p!r}")
        p = int(p)
        if not is_prime(p):
            raise ValueError(f"p: expected a prime for GF(p), got {p} (not prime)")
        self.p = p
        self.characteristic = p
        self.zero = 0
        self.one = 1 % p

    @property
    def name(self) -> str:
        return f"GF({self.p})"

    def convert(self, c: Any, name: str = "constant") -> int:
        c = normalize_constant(c, name)
        if not is_exact_rational(c):
            raise _exact_error(c, name, self.name)
        if isinstance(c, int):
            return c % self.p
        den = c.denominator % self.p
        if den == 0:
            raise ValueError(f"{name}: the constant {c} has a denominator divisible by p = {self.p}")
        return c.numerator * pow(den, -1, self.p) % self.p

    def add(self, a, b):
        return (a + b) % self.p

    def mul(self, a, b):
        return a * b % self.p

    def neg(self, a):
        return -a % self.p

    def inv(self, a):
        if a % self.p == 0:
            raise ZeroDivisionError(f"division by zero while evaluating the circuit over {self.name}")
        return pow(a, -1, self.p)

    def div(self, a, b):
        return a * self.inv(b) % self.p

    def generator(self) -> int:
        """The least generator g of the multiplicative group GF(p)^× (order p − 1): the least
        a ≥ 1 with a^((p−1)/q) ≠ 1 for every prime q | p − 1 (p − 1 factored by
        :func:`prime_factors`; a few candidates suffice in practice). Cached."""
        g = self.__dict__.get("_generator")
        if g is None:
            qs = prime_factors(self.p - 1)
            g = next(a for a in range(1, self.p) if all(pow(a, (self.p - 1) // q, self.p) != 1 for q in qs))
            self.__dict__["_generator"] = g
        return g

    def root_of_unity(self, n: int) -> int:
        """A primitive n-th root of unity ω (ωⁿ = 1, ωᵏ ≠ 1 for 0 < k < n): ω = g^((p−1)/n) for
        the generator g of GF(p)^× (:meth:`generator`), which has order exactly n. Requires a
        positive integer n dividing p − 1 (TypeError / ValueError otherwise). Cost: factoring
        p − 1 once (trial division, then Pollard's rho) and a few modular powers."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n: expected a positive int (the order of the root), got {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"n: expected a positive int (the order of the root), got {n}")
        if (self.p - 1) % n:
            raise ValueError(
                f"n: GF({self.p}) has a primitive {n}-th root of unity only if n divides p - 1 = "
                f"{self.p - 1}; here (p - 1) mod n = {(self.p - 1) % n}"
            )
        return pow(self.generator(), (self.p - 1) // n, self.p)

    def __repr__(self) -> str:
        return f"GF({self.p})"

    def __eq__(self, other) -> bool:
        return isinstance(other, GF) and other.p == self.p

    def __hash__(self) -> int:
        return hash(("GF", self.p))


def resolve_field(field: Any):
    """``None`` (floating point), ``"fraction"`` / :data:`FRACTION` / ``fractions.Fraction`` (ℚ),
    or a :class:`GF` instance; anything else is a ``ValueError`` / ``TypeError``."""
    if field is None:
        return None
    if isinstance(field, (GF, FractionField)):
        return field
    if field is Fraction or (isinstance(field, str) and field.lower() in ("fraction", "fractions", "q")):
        return FRACTION
    if isinstance(field, str):
        raise ValueError(f"field: expected None, 'fraction' or GF(p), got {field!r}")  # noqa: TRY004
    raise TypeError(f"field: expected None, 'fraction' or GF(p), got {type(field).__name__}")
