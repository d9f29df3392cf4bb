"""Files people look at: CSV tables and PNG plots of learning runs and of the atlas, written
atomically (a temporary file in the same folder, then os.replace)."""

from __future__ import annotations

import csv
import io
import math

from ..core.files import atomic_savefig, atomic_write

__all__ = ["atomic_write", "history_curve", "plot_atlas", "plot_curves", "write_csv"]


def write_csv(path: str, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, buf.getvalue().encode())


def plot_curves(path: str, curves: list[tuple[str, list[float], list[float]]], title: str) -> None:
    """Relative error (log scale) against seconds, one line per (label, times, errors)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, t, e in curves:
        pts = [(a, b) for a, b in zip(t, e) if math.isfinite(b) and b > 0]
        if pts:
            ax.semilogy([p[0] for p in pts], [p[1] for p in pts], label=label, lw=1.2)
    ax.set_xlabel("seconds")
    ax.set_ylabel("relative error ‖Ŷ − Y‖ / ‖Y‖")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        atomic_savefig(fig, path, format="png", dpi=110)
    finally:
        plt.close(fig)


def history_curve(histories) -> tuple[list[float], list[float]]:
    """Concatenate the phases of one restart: (seconds, relative error) at full-batch steps."""
    t_all, e_all, offset = [], [], 0.0
    for h in histories:
        for t, e in zip(h.time, h.error):
            if math.isfinite(e):
                t_all.append(offset + t)
                e_all.append(e)
        offset += h.wall_time
    return t_all, e_all


def plot_atlas(rows: list[dict], path: str) -> None:
    """Error vs parameters on log axes, one panel per target, one line per family (PNG, written
    atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    targets = list(dict.fromkeys(r["target"] for r in rows))
    families = list(dict.fromkeys(r["family"] for r in rows))
    cols = min(4, len(targets))
    nrows = math.ceil(len(targets) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.9 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, t in enumerate(targets):
        ax = axes[i // cols][i % cols]
        for j, f in enumerate(families):
            pts = sorted({(r["params"], max(r["error"], 1e-16)) for r in rows if r["target"] == t and r["family"] == f})
            if pts:
                ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, lw=1,
                          color=colors[j % len(colors)], label=f)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{t} (n = {rows[0]['n']})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=7)
        if i % cols == 0:
            ax.set_ylabel("relative error", fontsize=8)
        if i // cols == nrows - 1:
            ax.set_xlabel("parameters (scalars)", fontsize=8)
    for k in range(len(targets), nrows * cols):
        axes[k // cols][k % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 if nrows > 1 else 0.12, 1, 1))
    try:
        atomic_savefig(fig, path, format="png", dpi=100)
    finally:
        plt.close(fig)
