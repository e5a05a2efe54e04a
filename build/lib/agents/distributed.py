"""Data-parallel training with PyTorch's own stack: join the process group that torchrun describes.

``torchrun --nproc_per_node=N -m mazebench train ...`` starts N processes with RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT set; each calls ``join_process_group``. A plain
``mazebench train`` (no WORLD_SIZE, or WORLD_SIZE=1) is a world of one and touches nothing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """Where this process sits: its rank among ``size`` processes and its local rank on the node.

    ``device`` holds the collectives' tensors (NCCL reduces CUDA tensors only, gloo CPU ones).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and progress bars."""
        return self.rank == 0

    def shard(self, count: int) -> slice:
        """This rank's contiguous share of ``count`` rows (sizes differ by at most one)."""
        base, extra = divmod(count, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def _reduce(self, values, op) -> torch.Tensor:
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=op)
        return tensor.cpu()

    def any_true(self, flags: list[bool]) -> list[bool]:
        """For each flag: true on every rank if it is true on any rank (e.g. rank 0 ran out of time)."""
        if self.size == 1:
            return [bool(flag) for flag in flags]
        return [bool(v) for v in self._reduce([float(flag) for flag in flags], dist.ReduceOp.MAX)]

    def mean(self, values: list[float]) -> list[float]:
        """The mean of each of ``values`` over the ranks."""
        if self.size == 1:
            return list(values)
        return (self._reduce(values, dist.ReduceOp.SUM) / self.size).tolist()

    def first_difference(self, module: torch.nn.Module) -> str | None:
        """The name of the first parameter that is not identical on every rank, or None."""
        if self.size == 1:
            return None
        for name, param in module.named_parameters():
            flat = param.detach().reshape(-1).double()
            high, low = flat.clone(), flat.clone()
            dist.all_reduce(high, op=dist.ReduceOp.MAX)
            dist.all_reduce(low, op=dist.ReduceOp.MIN)
            if not torch.equal(high, low):
                return name
        return None

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def join_process_group(device: torch.device) -> tuple[World, torch.device]:
    """Join torchrun's process group (gloo on CPU, NCCL on CUDA) if WORLD_SIZE > 1; returns (world, device).

    On CUDA each process takes the GPU of its local rank unless the device names one.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local_rank, str(device)), device


def leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_without_teardown(code: int = 0) -> None:
    """End a process of a multi-process run now, its files written and the group left.

    Python's teardown after a gloo group now and then aborts the process ("terminate called without
    an active exception", torch 2.13, about 1 run in 30 on a loaded 2-core machine), which torchrun
    would report as a failed run; ``os._exit`` skips that teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
