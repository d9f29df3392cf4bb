"""Drawing a circuit's DAG (survey Figure 2: the FFT circuit for n = 4) with matplotlib (Agg).

**Layout** (:func:`layout`). Nodes are placed in columns by depth (inputs and constants in
column 0, the gates of depth k in column k); edges go left to right. Within a column nodes are
ordered by a *lane*, assigned from the outputs backwards: an output node takes the lane of its
(first) output index; any other node the smallest lane of its consumers not already taken in its
column, else the mean of its consumers' lanes. For the FFT this puts y₀ … y_{n−1} in natural
order on the right, every butterfly value on the lane of its array slot, and the inputs in
bit-reversed order on the left — the picture of Figure 2 (and Figure 3: butterfly factors times
the bit-reversal permutation).

**Labels.** An edge carries its coefficient when it is not 1 (so −1 and the twiddles ω^j appear
as in Figure 2; the imaginary unit is written i), placed near the edge's head where the (at
most two) incoming edges of a gate are apart. Binary linear gates are drawn "+", unary ones "·",
products "×", quotients "÷"; outputs are marked → y_k (above the node when it also feeds
later gates).
"""

from __future__ import annotations

import os

from .circuit import CONST, DIV, IN, LIN, MUL, Circuit

__all__ = ["draw", "layout"]

_MAX_NODES = 1500


def _label_const(c, v) -> str:
    if c._is_minus_one(v):
        return "−1"
    if isinstance(v, complex):
        re, im = v.real, v.imag
        if abs(re) < 1e-12:
            if abs(abs(im) - 1) < 1e-12:
                return "i" if im > 0 else "−i"
            return f"{im:.3g}i".replace("-", "−")
        return f"{re:.3g}{im:+.3g}i".replace("-", "−")
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def layout(circuit: Circuit) -> tuple[dict[int, tuple[float, float]], int]:
    """Node positions ``{node: (column, row)}`` (module docstring) and the tallest column's
    height; row 0 is the bottom, so the first lane is drawn on top."""
    n_nodes = circuit.num_nodes
    consumers = circuit.consumers()
    out_lane: dict[int, int] = {}
    for k, o in enumerate(circuit.outputs):
        out_lane.setdefault(o, k)
    cols: dict[int, list[int]] = {}
    for i in range(n_nodes):
        cols.setdefault(circuit.node_depth(i), []).append(i)
    lane: list[float] = [0.0] * n_nodes
    for d in sorted(cols, reverse=True):  # consumers are in later columns: already placed
        taken: set[float] = set()
        for i in cols[d]:
            if i in out_lane:
                lane[i] = out_lane[i]
                taken.add(lane[i])
        for i in cols[d]:
            if i in out_lane:
                continue
            cand = sorted({lane[h] for h in consumers[i]})
            free = [v for v in cand if v not in taken]
            if free:
                lane[i] = free[0]
            elif cand:
                lane[i] = sum(lane[h] for h in consumers[i]) / len(consumers[i]) + 0.5
            else:  # dead node: below everything
                lane[i] = float(n_nodes + i)
            taken.add(lane[i])
    height = max(len(v) for v in cols.values())
    xy: dict[int, tuple[float, float]] = {}
    for d, nodes in cols.items():
        k = len(nodes)
        for r, i in enumerate(sorted(nodes, key=lambda j: (lane[j], j))):
            xy[i] = (d, (height - 1) / 2 - (r - (k - 1) / 2))
    return xy, height


def draw(circuit: Circuit, path: str | os.PathLike | None = None, *, title: str | None = None, dpi: int = 120):
    """Draw ``circuit``; save a PNG to ``path`` when given. Returns the matplotlib Figure.

    Raises ``ValueError`` for circuits of more than 1500 nodes (unreadable as a picture).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> fig = circuits.draw(circuits.fft(4), "fft4.png", title="radix-2 FFT, n = 4")
    >>> type(fig).__name__
    'Figure'
    """
    if circuit.num_nodes > _MAX_NODES:
        raise ValueError(
            f"circuit: {circuit.num_nodes} nodes is too many to draw legibly (at most {_MAX_NODES})"
        )
    from .._optional import pyplot

    plt = pyplot()

    xy, height = layout(circuit)
    width = circuit.depth + 1
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
                t = 0.7
                ax.text(x0 + t * (x1 - x0), y0 + t * (y1 - y0), _label_const(circuit, coef),
                        fontsize=8, color="tab:red", ha="center", va="center", zorder=5,
                        bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none"})
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
    used = circuit.consumers()
    for o, ys in names.items():
        x, y = xy[o]
        if used[o]:  # edges leave to the right: label above the node
            ax.text(x, y + 0.24, ", ".join(ys), fontsize=9, color="black", ha="center", va="bottom")
        else:
            ax.text(x + 0.16, y, "→ " + ", ".join(ys), fontsize=9, color="black", ha="left", va="center")
    ax.set_xlim(-0.6, width - 0.15)
    ax.set_ylim(-0.8, height - 0.2)
    ax.set_title(title or f"{circuit.name}: size {circuit.size}, depth {circuit.depth}", fontsize=10)
    fig.tight_layout()
    if path is not None:
        from ..core.files import atomic_savefig

        atomic_savefig(fig, path, dpi=dpi)
        plt.close(fig)
    return fig

