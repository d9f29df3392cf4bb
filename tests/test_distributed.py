"""Data-parallel training (kmatrix.nn.distributed): 2 processes under torchrun (gloo, localhost)
against one process on the same global batches.

Tolerance 1e-12 (float64): the DDP gradient is the average of two half-batch means (one more
rounding of O(1) values, ~1e-16 relative); after 12 SGD steps with momentum the parameters agree
to the same order."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kmatrix.nn import distributed as kd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ddp_worker as worker


def test_shard_batches_union_is_the_global_batch():
    single = list(kd.shard_batches(40, 8, epoch=2, seed=5, rank_=0, world=1))
    parts = [list(kd.shard_batches(40, 8, epoch=2, seed=5, rank_=r, world=2)) for r in range(2)]
    assert len(single) == len(parts[0]) == len(parts[1]) == 5
    for i, batch in enumerate(single):
        assert sorted(torch.cat([parts[0][i], parts[1][i]]).tolist()) == sorted(batch.tolist())
    assert sorted(torch.cat(single).tolist()) == list(range(40))  # every example once per epoch
    other = torch.cat(list(kd.shard_batches(40, 8, epoch=3, seed=5, rank_=0, world=1)))
    assert not torch.equal(other, torch.cat(single))  # reshuffled each epoch
    with pytest.raises(ValueError, match="global_batch: expected a multiple of the world size 3"):
        next(kd.shard_batches(40, 8, 0, rank_=0, world=3))


def test_outside_torchrun_is_a_world_of_one():
    assert kd.setup(seed=None) == (0, 1) and kd.is_main()
    model = torch.nn.Linear(2, 2)
    assert kd.wrap(model) is model


def test_ddp_two_processes_match_single_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(Path(__file__).with_name("_ddp_worker.py")), str(tmp_path)]
    res = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    got = torch.load(tmp_path / "ddp.pt")
    assert got["world"] == 2
    grads, params = worker.run(rank=0, world=1)
    assert set(got["grads"]) == set(grads) and len(grads) >= 8
    for name in grads:
        assert got["grads"][name].dtype == torch.float64
        assert float((got["grads"][name] - grads[name]).abs().max()) <= 1e-12, name
        assert float(grads[name].abs().max()) > 0
    for name in params:
        assert float((got["params"][name] - params[name]).abs().max()) <= 1e-12, name
    # the steps did move the parameters (the comparison is not of untouched initial values)
    init = {n: p.detach() for n, p in worker.make_model().named_parameters()}
    assert max(float((params[n] - init[n]).abs().max()) for n in params) > 1e-3
