"""``kmatrix verify``: run every kaleidoscope-theorem construction on fresh random instances,
check each against its input, print the theorem table and a one-line verdict (exit status 1 if
any check fails). ``--seed S`` replays a run, ``--only GROUP …`` runs some groups."""

from __future__ import annotations


def _run(args) -> int:
    from ...bench._timing import format_table
    from ...theorems.checks import run_checks

    try:
        rows, seed = run_checks(args.seed, only=args.only)
    except ValueError as exc:
        raise SystemExit(f"kmatrix verify: {exc}") from None
    headers = [
        "theorem",
        "instance",
        "n",
        "s",
        "d",
        "width / bound",
        "expansion / bound",
        "num_params",
        "max error",
        "time (s)",
        "check",
    ]
    table = [
        [
            r.theorem,
            r.instance,
            r.n,
            r.s,
            r.d,
            r.width,
            r.expansion,
            r.num_params,
            ("0 (exact)" if r.error == 0 else f"{r.error:.1e}"),
            f"{r.seconds:.3f}",
            "ok" if r.ok else "FAIL",
        ]
        for r in rows
    ]
    print(format_table(headers, table))
    failed = [r for r in rows if not r.ok]
    print(f"seed {seed}; exact checks need error 0, the others <= 1e-12 (relative to max |entry|)")
    if failed:
        print(
            f"verify: {len(failed)} of {len(rows)} checks FAILED: "
            + ", ".join(f"{r.theorem} {r.instance}" for r in failed)
        )
        return 1
    print(f"verify: all {len(rows)} checks passed")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "verify", help="check every theorem construction on random instances (theorem table)",
        epilog="example: kmatrix verify --only sparse circuits",
    )
    p.add_argument("--seed", type=int, default=None, help="replay the instances of a previous run")
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="GROUP",
        help="run only these groups: benes sparse sums circuits linearize special",
    )
    p.set_defaults(func=_run)
