"""Data-parallel training with ``torch.distributed`` (DistributedDataParallel on the gloo
backend: CPUs, one or several machines), for models with structured layers.

Launch any script that uses these helpers with torchrun, e.g. ``torchrun --nproc-per-node 2
-m kmatrix.cli.main bench digits``; on several machines, the same command on each with
``--nnodes``, ``--node-rank`` and the rendezvous address of the first machine (README). Each
process: :func:`setup` (joins the process group from torchrun's environment variables; a plain
``python`` run is a world of one), identical seeding on every rank, :func:`wrap` (DDP when the
world has more than one process), :func:`shard_batches` (each rank its slice of every global
batch, from ``DistributedSampler``), :func:`is_main` (only rank 0 prints and writes files).

Why the gradients agree: with a global batch of B examples split into equal local batches of
b = B / world, each rank's loss is the mean over its b examples, and DDP all-reduces the
gradients and divides by world, so every rank holds (1/world)·Σ_r (1/b) Σ_{i∈r} ∇ℓ_i =
(1/B) Σ_i ∇ℓ_i, the single-process gradient of the mean loss over the global batch
(tests/test_distributed.py checks this to 1e-12 in float64).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

__all__ = ["is_main", "rank", "setup", "shard_batches", "teardown", "world_size", "wrap"]


def setup(backend: str = "gloo", seed: int | None = 0) -> tuple[int, int]:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) when ``WORLD_SIZE`` > 1; seed torch's global RNG with
    ``seed`` on every rank (the same initialisation everywhere; DDP also broadcasts rank 0's
    parameters). Returns (rank, world_size); (0, 1) outside torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    if seed is not None:
        torch.manual_seed(seed)
    return rank(), world_size()


def teardown() -> None:
    """Leave the process group (if any). All ranks first meet at a barrier: with gloo, a rank
    that destroys the group while a peer is still working (rank 0 writing results) can make the
    peer's transport threads abort the process ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.barrier()
        gc.collect()  # DDP wrappers left in reference cycles hold the group until finalisation
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """True on rank 0 (and outside torchrun): the process that prints and writes files."""
    return rank() == 0


def wrap(model: nn.Module) -> nn.Module:
    """``DistributedDataParallel(model)`` when the world has more than one process, else
    ``model``. Structured layers need nothing special: their θ are ordinary parameters and
    their index tensors (sparse patterns) buffers, broadcast from rank 0 at construction."""
    if world_size() > 1:
        return nn.parallel.DistributedDataParallel(model)
    return model


def shard_batches(n: int, global_batch: int, epoch: int, seed: int = 0, *, rank_: int | None = None,
                  world: int | None = None) -> Iterator[torch.Tensor]:
    """Index tensors of this rank's local batches for one epoch over ``n`` examples.

    A ``DistributedSampler`` (shuffled with ``seed + epoch``; the permutation padded by
    repetition to a multiple of ``world``) gives rank r the positions r, r + world, ...; local
    batch i is its slice [i·b, (i+1)·b) with b = global_batch / world, so the union of the
    ranks' i-th local batches is the i-th global batch of that permutation — the batch a single
    process with ``world=1`` (and the same n, seed, epoch) sees at step i."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if global_batch % world:
        raise ValueError(f"global_batch: expected a multiple of the world size {world}, got {global_batch}")
    b = global_batch // world
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank_, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    idx = torch.tensor(list(iter(sampler)), dtype=torch.long)
    for i in range(0, len(idx), b):
        yield idx[i:i + b]
