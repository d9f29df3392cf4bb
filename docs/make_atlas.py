"""Regenerate the expressivity atlas figure of the documentation (docs/atlas.rst).

    python docs/make_atlas.py       # ≈ 2 min on 2 cores (loaded); writes docs/_generated/atlas.*

Runs ``kmatrix atlas`` (exactly the command recorded in the output) at a small size and writes
``atlas.png`` (the figure the page shows), ``atlas.csv`` (every point) and ``atlas.txt`` (when, on
which machine, the command, and its printed summary). The PNG is committed rather than drawn at
docs build time: the fits take minutes and matplotlib is not a docs dependency, while the docs
build in CI must stay fast. tests/test_docs_atlas.py checks the files and that the recorded
command is the one this script runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "_generated"
ARGS = [
    "--n", "32", "--targets", "dft,hadamard,convolution,permutation",
    "--budgets", "n log n,2n log n,4n log n,n^2", "--unitary-steps", "300", "--steps", "100",
    "--max-time-per-fit", "10", "--no-progress",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_bench_tables import machine

    from kmatrix.cli.main import main as kmatrix_main
    from kmatrix.learn.report import atomic_write

    args.out.mkdir(parents=True, exist_ok=True)
    command = "kmatrix atlas " + " ".join(shlex.quote(a) for a in ARGS) + " --out OUT"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = f"measured {now} on {machine()}\n$ {command}\n"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = kmatrix_main(["atlas", *ARGS, "--out", str(args.out)])
    if status:
        raise SystemExit(f"{command} failed with status {status}")
    summary = "\n".join(line for line in buf.getvalue().splitlines() if not line.startswith("wrote "))
    atomic_write(str(args.out / "atlas.txt"), (header + "\n" + summary + "\n").encode())
    print(f"wrote {args.out}/atlas.png, atlas.csv, atlas.txt", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
