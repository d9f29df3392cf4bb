"""Drawing a circuit's DAG (survey Figure 2: the FFT circuit for n = 4) with matplotlib (Agg).

Nodes are placed in columns by depth (inputs and constants in column 0, the gates of depth k in
column k) and spread vertically within a column; edges go left to right and carry their
coefficient when it is not 1 (so −1 and the twiddles ω^j appear as in Figure 2). Binary linear
gates are drawn "+", unary ones "·", products "×", quotients "÷"; outputs are marked y_k.
"""

from __future__ import annotations

import os

from .circuit import CONST, DIV, IN, LIN, MUL, Circuit

__all__ = ["draw"]

_MAX_NODES = 1500


def _label_const(c, v) -> str:
    if c._is_minus_one(v):
        return "−1"
    if isinstance(v, complex):
        re, im = v.real, v.imag
        if abs(re) < 1e-12:
            if abs(abs(im) - 1) < 1e-12:
                return "ι" if im > 0 else "−ι"
            return f"{im:.3g}ι".replace("-", "−")
        return f"{re:.3g}{im:+.3g}ι".replace("-", "−")
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def draw(circuit: Circuit, path: str | os.PathLike | None = None, *, title: str | None = None, dpi: int = 120):
    """Draw ``circuit``; save a PNG to ``path`` when given. Returns the matplotlib Figure.

    Raises ``ValueError`` for circuits of more than 1500 nodes (unreadable as a picture)."""
    if circuit.num_nodes > _MAX_NODES:
        raise ValueError(
            f"circuit: {circuit.num_nodes} nodes is too many to draw legibly (at most {_MAX_NODES})"
        )
    from .._optional import pyplot

    plt = pyplot()

    cols: dict[int, list[int]] = {}
    for i in range(circuit.num_nodes):
        cols.setdefault(circuit.node_depth(i), []).append(i)
    height = max(len(v) for v in cols.values())
    xy = {}
    for d, nodes in cols.items():
        k = len(nodes)
        for r, i in enumerate(nodes):
            xy[i] = (d, (height - 1) / 2 - (r - (k - 1) / 2))
    width = max(cols) + 1
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * width, 1.0 + 0.7 * height))
    ax.set_axis_off()
    for i in range(circuit.num_nodes):
        g = circuit.node(i)
        if g.op in (IN, CONST):
            continue
        operands = [(g.a, g.alpha), (g.b, g.beta)] if g.b is not None else [(g.a, g.alpha)]
        for src, coef in operands:
            (x0, y0), (x1, y1) = xy[src], xy[i]
            ax.annotate(
                "", xy=(x1 - 0.12, y1), xytext=(x0 + 0.12, y0),
                arrowprops={"arrowstyle": "->", "color": "0.35", "lw": 0.9},
            )
            if g.op == LIN and not circuit._is_one(coef):
                t = 0.3
                ax.text(x0 + t * (x1 - x0), y0 + t * (y1 - y0) + 0.08, _label_const(circuit, coef),
                        fontsize=8, color="tab:red", ha="center", va="bottom")
    for i, (x, y) in xy.items():
        g = circuit.node(i)
        if g.op == IN:
            label, color = f"x{i}", "tab:blue"
        elif g.op == CONST:
            label, color = _label_const(circuit, g.alpha), "tab:gray"
        else:
            label = {MUL: "×", DIV: "÷"}.get(g.op, "+" if g.b is not None else "·")
            color = "tab:green" if g.op == LIN else "tab:orange"
        ax.scatter([x], [y], s=520, color=color, zorder=3, edgecolors="black", linewidths=0.6)
        ax.text(x, y, label, ha="center", va="center", fontsize=9, color="white", zorder=4, weight="bold")
    names: dict[int, list[str]] = {}
    for k, o in enumerate(circuit.outputs):
        names.setdefault(o, []).append(f"y{k}")
    for o, ys in names.items():
        x, y = xy[o]
        ax.text(x + 0.2, y - 0.2, ",".join(ys), fontsize=9, color="black", ha="left", va="top")
    ax.set_xlim(-0.6, width - 0.3)
    ax.set_ylim(-0.8, height - 0.2)
    ax.set_title(title or f"{circuit.name}: size {circuit.size}, depth {circuit.depth}", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig

