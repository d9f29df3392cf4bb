"""Regenerate the tables of the benchmark page (docs/benchmarks.rst) from the shipped benchmarks.

    python docs/make_bench_tables.py            # the page's figures (≈ 3 min on 2 cores)
    python docs/make_bench_tables.py --tiny --out /tmp/bench   # seconds: checks the script runs

Each benchmark runs through the ``kmatrix`` command line exactly as a user would type it
(``kmatrix bench NAME ...``); its printed output is written verbatim to
``docs/_generated/bench_NAME.txt`` after a header saying when, where and with which command it was
measured. The page includes these files (``literalinclude``), so its figures are the benchmark's
own output and cannot drift from it by hand-copying; tests/test_docs.py checks the page includes
every file, that each has its header, and that the tables still have the columns the benchmark
prints today (regenerate after changing a benchmark's output). The docs build does not run the
benchmarks (the CI machine is small and shared; timings need a quiet machine).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "_generated"

# name -> (arguments for the page, arguments for --tiny)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "butterfly": (
        ["--sizes", "1024:1024", "4096:1024", "4096:64", "256:1", "--repeats", "3"],
        ["--sizes", "256:8", "--repeats", "1", "--fallback-size", "256:8"],
    ),
    "vandermonde_accuracy": (
        ["--log2", "6", "8", "10", "12", "--rows", "16"],
        ["--sizes", "16", "--rows", "4", "--dps", "30", "--cases", "roots of unity"],
    ),
    "cauchy_accuracy": (
        ["--log2", "6", "8", "10", "12", "--rows", "16"],
        ["--sizes", "16", "--rows", "4", "--dps", "30", "--cases", "interleaved |z|=1"],
    ),
}

HEADER_START = "measured "


def machine() -> str:
    """One line: CPU model, cores, OS, Python, torch and kmatrix versions, threads, load."""
    import torch

    import kmatrix

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} at the start"
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), kmatrix {kmatrix.__version__}{load}"
    )


def run(name: str, args: list[str]) -> tuple[str, str]:
    """(header, output) of ``kmatrix bench NAME ARGS``; raises if the benchmark fails."""
    from kmatrix.cli.main import main

    command = "kmatrix bench " + " ".join(shlex.quote(a) for a in [name, *args])
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = f"{HEADER_START}{now} on {machine()}\n$ {command}\n"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(["bench", name, *args])
    if status:
        raise SystemExit(f"{command} failed with status {status}")
    return header, buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny sizes (a check that this runs)")
    p.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    p.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="regenerate these only")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from kmatrix.learn.report import atomic_write
    for name, (full, tiny) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        header, output = run(name, tiny if args.tiny else full)
        path = args.out / f"bench_{name}.txt"
        atomic_write(str(path), (header + "\n" + output).encode())  # temp file + rename
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
