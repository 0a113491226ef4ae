"""Pretraining on several processes (torchrun): which process this is, the process group, and
what is recorded about how a model was trained.

    torchrun --standalone --nproc_per_node 4 pretrain_model.py -net VGG16 -dataset Cifar100 \
        -classes 100 -gpu -b 256

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE in each process; without them the world is one
process and nothing here changes a run. `-b` stays the global batch: each process trains on its
share of every batch (batch / world size), and DistributedDataParallel averages the gradients,
so the optimiser steps are those of one process with the same batch.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from unlearn.errors import UsageError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    local_rank: int = 0  # index on this machine: the GPU it uses
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 evaluates, logs and writes the checkpoints."""
        return self.rank == 0


def world_from_env() -> World:
    """The world torchrun describes in the environment, else one process."""
    if "WORLD_SIZE" not in os.environ:
        return World()
    try:
        size = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise UsageError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers ({error})") from error
    if size < 1 or not 0 <= rank < size:
        raise UsageError(f"rank {rank} does not fit a world of size {size}")
    return World(rank, local_rank, size)


def per_device_batch(global_batch: int, world: World) -> int:
    """Each process's share of the global batch; it must divide evenly."""
    if global_batch % world.size:
        raise UsageError(f"the batch -b {global_batch} is not divisible by the {world.size} "
                         f"processes of this torchrun; use a multiple of {world.size}")
    return global_batch // world.size


def device_for(world: World, gpu: bool, default: torch.device) -> torch.device:
    """The GPU of this process's local rank under torchrun, else the usual device."""
    if world.size > 1 and default.type == "cuda":
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return default


def start(world: World, device: torch.device) -> None:
    """Join the process group (NCCL on GPUs, gloo on the CPU); one process joins nothing."""
    if world.size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # Long: with a model store, the other processes wait in a broadcast while rank 0 waits
        # for another writer of the same model to finish it.
        dist.init_process_group(backend, rank=world.rank, world_size=world.size,
                                timeout=timedelta(hours=6))


def stop(world: World) -> None:
    """Wait for every process (rank 0 writes the last checkpoint), then leave the group."""
    if world.size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def execution_info(world: World, per_device: int, device: torch.device) -> dict:
    """How a run was executed, recorded with checkpoints and result rows: results depend on
    the number of processes and the batch each one sees."""
    return {"world_size": world.size, "per_device_batch": per_device,
            "device_type": device.type}


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def broadcast_object(value):
    """Rank 0's `value` in every process (the others pass anything)."""
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def free_port() -> int:
    """A free TCP port on this machine, for a process group started here (not by torchrun)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
