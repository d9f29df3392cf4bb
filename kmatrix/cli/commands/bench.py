"""``kmatrix bench NAME``: run the benchmark module ``kmatrix.bench.NAME``."""

from __future__ import annotations

import importlib
import pkgutil


def _available() -> list[str]:
    from ... import bench

    return sorted(i.name for i in pkgutil.iter_modules(bench.__path__) if not i.name.startswith("_"))


def _run(args) -> int:
    names = _available()
    if args.name not in names:
        raise SystemExit(f"kmatrix bench: unknown benchmark {args.name!r}; available: {', '.join(names)}")
    mod = importlib.import_module(f"kmatrix.bench.{args.name}")
    return int(mod.main(args.rest) or 0)


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a shipped benchmark (prints medians and ratios)",
                       description="Run a benchmark shipped in kmatrix.bench; options after NAME go to "
                       "the benchmark (kmatrix bench NAME --help lists them).",
                       epilog="example: kmatrix bench butterfly --sizes 1024:64 --repeats 3")
    p.add_argument("name", help="benchmark name: " + ", ".join(_available()))
    p.add_argument("rest", nargs="...", help="options passed to the benchmark (see NAME --help)")
    p.set_defaults(func=_run)
