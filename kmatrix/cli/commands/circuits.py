"""``kmatrix circuits``: the circuit library on the command line.

* ``kmatrix circuits show fft --n 4`` prints the gate list and writes the DAG as a PNG (the
  survey's Figure 2);
* ``kmatrix circuits factor fft --n 16`` prints the sparse factors of Theorem 4.5 (shape and nnz
  of each, against s = number of nodes including inputs);
* ``kmatrix circuits list`` lists the library.
"""

from __future__ import annotations

from .._args import int_at_least


def _build(name: str, n: int):
    from ...circuits import LIBRARY

    if name not in LIBRARY:
        raise SystemExit(f"kmatrix circuits: unknown circuit {name!r}; available: {', '.join(LIBRARY)}")
    try:
        return LIBRARY[name](n)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"kmatrix circuits: {name}(n={n}): {exc}") from None


def _show(args) -> int:
    c = _build(args.name, args.n)
    print(repr(c))
    for line in c.gate_list():
        print("  " + line)
    if not args.no_draw:
        path = args.out or f"circuit_{args.name}_{args.n}.png"
        try:
            c.draw(path)
        except ValueError as exc:
            raise SystemExit(f"kmatrix circuits: {exc}") from None
        print(f"wrote {path}")
    return 0


def _factor(args) -> int:
    from ...circuits.sparse_factors import sparse_factor_triplets

    c = _build(args.name, args.n)
    if not c.is_linear:
        raise SystemExit(f"kmatrix circuits: {c.name} is not linear; Theorem 4.5 needs a linear circuit")
    trip = sparse_factor_triplets(c)
    s = c.num_nodes
    d = c.depth
    print(f"{c!r}")
    print(f"s = {s} nodes (inputs included), s' = {trip[0][3][1]}, depth d = {d}")
    print(f"W = P · W_d ⋯ W_1 · E: {len(trip)} factors (d layer matrices + P + E)")
    names = ["P"] + [f"W_{d - k}" for k in range(d)] + ["E"]
    total = 0
    for name, (rows, _cols, _vals, shape) in zip(names, trip):
        nnz = len(rows)
        total += nnz
        print(f"  {name:>6s}  shape {shape[0]:>5d} x {shape[1]:<5d}  nnz {nnz:>6d}  nnz/s {nnz / s:5.2f}")
    print(f"  total nnz {total} = {total / s:.2f}·s")
    if args.check:
        err = (c.to_sparse_factors().to_dense() - c.to_dense()).abs().max().item()
        print(f"max |product − circuit.to_dense()| = {err:.3g} (float64/complex128)")
    return 0


def _list(args) -> int:
    from ...circuits import LIBRARY

    for name in LIBRARY:
        print(name)
    return 0


def register(sub) -> None:
    p = sub.add_parser("circuits", help="arithmetic circuits: show a library circuit, factor it (Thm 4.5)",
                       epilog="example: kmatrix circuits show fft --n 4")
    csub = p.add_subparsers(dest="circuits_command", metavar="ACTION", required=True)
    s = csub.add_parser("show", help="print the gate list and write the DAG as a PNG",
                        epilog="example: kmatrix circuits show fft --n 4 --out fft4.png")
    s.add_argument("name", help="library circuit (see `kmatrix circuits list`)")
    s.add_argument("--n", type=int_at_least(1), required=True, help="size parameter n")
    s.add_argument("--out", default=None, help="PNG path (default circuit_NAME_N.png)")
    s.add_argument("--no-draw", action="store_true", help="only print the gate list")
    s.set_defaults(func=_show)
    f = csub.add_parser("factor", help="print the sparse factors of Theorem 4.5 (shapes, nnz)",
                        epilog="example: kmatrix circuits factor fft --n 16 --check")
    f.add_argument("name", help="linear library circuit")
    f.add_argument("--n", type=int_at_least(1), required=True, help="size parameter n")
    f.add_argument("--check", action="store_true", help="also multiply the factors back (float64)")
    f.set_defaults(func=_factor)
    ls = csub.add_parser("list", help="list the library circuits", epilog="example: kmatrix circuits list")
    ls.set_defaults(func=_list)
