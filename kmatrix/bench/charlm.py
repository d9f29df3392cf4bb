"""``kmatrix bench charlm``: a character-level transformer language model whose MLP weights are
dense or structured at a matched budget — "does it help in a transformer on my machine".

Corpus: the Python standard library's own top-level ``.py`` files (``sysconfig.get_paths()
["stdlib"]``, on every machine with Python, no download), sorted by name, read as bytes
(vocabulary 256; for this almost-ASCII text bits per byte = bits per character) and
concatenated; the first ``--chars`` bytes, the last 10% of them the validation set. (The files
differ between Python versions: compare families within one run.)

Model: pre-norm transformer, ``--layers`` 4, d = ``--d`` 256, 4 heads, context ``--ctx`` 128,
MLP d → 4d → d with GELU, learned positions, untied output head. The MLP's two Linear layers
(``linear1``, ``linear2``) are dense or replaced by :func:`kmatrix.nn.replace_linear` with at most
``--budget-fraction`` (default 1/4) of their dense weight parameters each; attention projections
stay dense. Adam (lr 2e-3, 10% warm-up then cosine), batch ``--batch`` sequences, ``--steps``
steps per family, the same data order for every family. Reported: validation bits per
character (mean cross-entropy / ln 2 over ``--eval-batches`` fixed batches) after the last step,
parameters of the MLPs and of the model, training tokens per second (median over steps).
Writes ``charlm.csv`` and ``charlm.png`` (training loss and validation bits/char vs step).
Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sysconfig
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .._optional import pyplot
from ..nn import FAMILIES, replace_linear
from ._nets import atomic_savefig, atomic_write_csv, seed_all
from ._timing import format_table

DEFAULT_FAMILIES = ["dense", "lowrank", "monarch", "butterfly", "kmatrix"]


def load_corpus(chars: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(train bytes, validation bytes, file names): the stdlib's top-level .py files, sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(root.glob("*.py"))
    if not files:
        raise RuntimeError(f"charlm: no .py files in the standard library folder {root}")
    buf, used = bytearray(), []
    for f in files:
        if len(buf) >= chars:
            break
        buf += f.read_bytes()
        used.append(f.name)
    data = torch.frombuffer(bytearray(buf[:chars]), dtype=torch.uint8).long()
    if len(data) < 10_000:
        raise RuntimeError(f"charlm: only {len(data)} bytes of corpus (need ≥ 10,000)")
    cut = int(0.9 * len(data))
    return data[:cut], data[cut:], used


class CharTransformer(nn.Module):
    def __init__(self, vocab: int, d: int, layers: int, heads: int, ctx: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(ctx), persistent=False)

    def forward(self, idx):
        t = idx.shape[1]
        h = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))


def build_model(family: str, budget_fraction: float, d: int, layers: int, ctx: int, seed: int) -> nn.Module:
    gen = seed_all(seed)
    model = CharTransformer(256, d, layers, 4, ctx)
    if family != "dense":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            replace_linear(model, family, budget=budget_fraction, generator=gen,
                           filter=lambda name, m: name.endswith(("linear1", "linear2")))
        if caught:  # a layer kept dense would make the comparison wrong
            raise ValueError(str(caught[0].message))
    return model


def _batches(data: torch.Tensor, batch: int, ctx: int, g: torch.Generator):
    while True:
        starts = torch.randint(0, len(data) - ctx - 1, (batch,), generator=g)
        idx = starts[:, None] + torch.arange(ctx + 1)
        chunk = data[idx]
        yield chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def evaluate(model, val: torch.Tensor, batch: int, ctx: int, n_batches: int) -> float:
    """Validation bits per character over ``n_batches`` fixed batches."""
    model.eval()
    g = torch.Generator().manual_seed(12345)
    it = _batches(val, batch, ctx, g)
    tot = 0.0
    for _ in range(n_batches):
        x, y = next(it)
        tot += float(F.cross_entropy(model(x).flatten(0, 1), y.flatten()))
    model.train()
    return tot / n_batches / math.log(2)


def train(model, train_data, val, steps, batch, ctx, lr, eval_every, eval_batches, seed=0, progress=False,
          desc=""):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    it = _batches(train_data, batch, ctx, torch.Generator().manual_seed(seed))
    losses, evals, step_times = [], [], []
    model.train()
    for step in tqdm(range(1, steps + 1), desc=desc, unit="step", disable=not progress, leave=False):
        x, y = next(it)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step_times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()) / math.log(2))
        if step % eval_every == 0 or step == steps:
            evals.append((step, evaluate(model, val, batch, ctx, eval_batches)))
    tok_s = batch * ctx / statistics.median(step_times)
    return losses, evals, tok_s


HEADER = ["family", "mlp_params", "model_params", "val_bits_per_char", "train_tokens_per_s", "steps"]


def plot(curves: dict, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, (fam, (losses, evals)) in enumerate(curves.items()):
        k = max(1, len(losses) // 50)
        smooth = [sum(losses[j:j + k]) / len(losses[j:j + k]) for j in range(0, len(losses), k)]
        ax.plot([j + k / 2 for j in range(0, len(losses), k)], smooth, color=f"C{i}", alpha=0.6, label=f"{fam} (train)")
        ax.plot([s for s, _ in evals], [v for _, v in evals], "o--", color=f"C{i}", label=f"{fam} (val)")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.set_title("char-level transformer on the Python stdlib: MLP weights per family")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    out = atomic_savefig(fig, path)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kmatrix bench charlm", description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", default=[f for f in DEFAULT_FAMILIES if f in FAMILIES])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--ctx", type=int, default=128)
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--chars", type=int, default=2_000_000, help="corpus size in bytes (default 2 MB)")
    p.add_argument("--budget-fraction", type=float, default=0.25,
                   help="weight parameters of each structured MLP layer, as a fraction of the dense one")
    p.add_argument("--eval-every", type=int, default=0, help="steps between validations (default steps/4)")
    p.add_argument("--eval-batches", type=int, default=16)
    p.add_argument("--out", default=".", help="folder for charlm.csv and charlm.png")
    args = p.parse_args(argv)
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        p.error(f"--families: unknown {unknown}; available: {', '.join(sorted(FAMILIES))}")
    if not 0 < args.budget_fraction < 1:
        p.error("--budget-fraction: expected a number in (0, 1)")
    if args.d % 4:
        p.error("--d: expected a multiple of the 4 heads")
    eval_every = args.eval_every or max(1, args.steps // 4)
    t0 = time.perf_counter()
    train_data, val, files = load_corpus(args.chars)
    rows, curves = [], {}
    for fam in tqdm(args.families, desc="charlm", unit="family"):
        try:
            model = build_model(fam, args.budget_fraction, args.d, args.layers, args.ctx, seed=0)
        except ValueError as e:
            print(f"charlm: skipping {fam}: {e}")
            continue
        mlp = sum(p.numel() for n, p in model.named_parameters() if ".linear1." in n or ".linear2." in n)
        total = sum(p.numel() for p in model.parameters())
        losses, evals, tok_s = train(model, train_data, val, args.steps, args.batch, args.ctx, args.lr,
                                     eval_every, args.eval_batches, progress=True, desc=fam)
        curves[fam] = (losses, evals)
        rows.append([fam, mlp, total, evals[-1][1], tok_s, args.steps])
    out = Path(args.out)
    atomic_write_csv(out / "charlm.csv", HEADER, rows)
    png = plot(curves, out / "charlm.png")
    print(format_table(["family", "MLP params", "model params", "val bits/char", "train tokens/s"],
                       [[r[0], r[1], r[2], round(r[3], 3), round(r[4])] for r in rows]))
    print(f"\n{len(files)} stdlib files, {len(train_data):,} train / {len(val):,} validation bytes; "
          f"{args.steps} steps of {args.batch}×{args.ctx} tokens; wrote {out / 'charlm.csv'} and {png} "
          f"({time.perf_counter() - t0:.0f} s; timings on a shared machine are noisy)")
    return 0
