"""Pretraining on several processes (DistributedDataParallel) against one process, same global
batch: wall time of one training epoch (no evaluation), forward + backward + SGD step.

    python -m bench.bench_ddp                       # CPU: CNN, 5,000 Fashion-MNIST images,
                                                    # 1 vs 2 gloo processes, 1 thread each
    python -m bench.bench_ddp --device cuda         # every visible GPU vs one (NCCL)
    python -m bench.bench_ddp --quick                # tiny, for the tests

Each world size runs in fresh processes joined as torchrun joins them (RANK, WORLD_SIZE,
MASTER_ADDR/PORT), through the tool's own training loop (training.train with a
distributed.World and a sharded BatchLoader). The first epoch is a warm-up (allocator, NCCL
and gloo connections, cuDNN choice); the next `--reps` epochs are timed, median reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.multiprocessing as mp

from bench.common import (
    DEFAULT_CACHE,
    ROOT,
    apply_threads,
    describe_machine,
    emit,
    fashion_mnist,
    subset,
    write_json,
)
from unlearn.train.distributed import free_port


def _worker(rank: int, size: int, port: int, args: dict, times) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import sys

    sys.path.insert(0, str(ROOT))
    from models import build_model
    from unlearn.data import datasets
    from unlearn.train import distributed
    from unlearn.train.seeding import seed_everything
    from unlearn.train.training import TrainSettings, constant_schedule, train

    apply_threads(args["threads"])
    world = distributed.world_from_env()
    device = torch.device(args["device"])
    if device.type == "cuda":
        device = distributed.device_for(world, True, torch.device("cuda"))
    distributed.start(world, device)
    seed_everything(0)
    images = subset(datasets.load_split("FashionMNIST", True, args["data"]), args["n_train"])
    spec = datasets.DATASETS["FashionMNIST"]
    model = build_model(args["net"], 10).to(device)
    loader = datasets.BatchLoader(images, None, args["batch"], spec=spec,
                                  image_size=model.input_size, shuffle=True, augment=True,
                                  rank=world.rank, world_size=world.size, device=device)
    epochs = []
    for epoch in range(args["reps"] + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if world.size > 1:
            torch.distributed.barrier()
        started = time.perf_counter()
        train(model, _Epoch(loader, epoch), device,
              TrainSettings(epochs=1, schedule=constant_schedule(0.01), world=world,
                            label=f"ddp{world.size}"))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epochs.append(time.perf_counter() - started)
    distributed.stop(world)
    if world.is_main:
        times[size] = epochs[1:]  # the first epoch warms up


class _Epoch:
    """The loader as epoch `epoch` (train() always starts its one epoch at 0)."""

    def __init__(self, loader, epoch: int):
        self.loader, self.epoch = loader, epoch

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, _: int) -> None:
        self.loader.set_epoch(self.epoch)

    def global_batch_size(self, step: int) -> int:
        return self.loader.global_batch_size(step)

    def __iter__(self):
        return iter(self.loader)


def time_world(size: int, args: dict) -> list[float]:
    times = mp.Manager().dict()
    mp.spawn(_worker, args=(size, free_port(), args, times), nprocs=size, join=True)
    return list(times[size])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--net", default=None, help="default: CNN on the CPU, VGG16 on CUDA")
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=128, help="global batch")
    parser.add_argument("--worlds", default=None,
                        help="process counts, e.g. 1,2 (default: 1,2 on the CPU; 1 and every "
                             "visible GPU on CUDA)")
    parser.add_argument("--reps", type=int, default=2, help="timed epochs after the warm-up")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda asked for, but CUDA is not available here")
    if args.quick:
        args.n_train, args.batch, args.reps = 96, 32, 1
    net = args.net or ("VGG16" if args.device == "cuda" else "CNN")
    if args.worlds:
        worlds = [int(w) for w in args.worlds.split(",")]
    elif args.device == "cuda":
        worlds = sorted({1, torch.cuda.device_count()})
    else:
        worlds = [1, 2]
    data, described = (fashion_mnist(args.cache, generated=True, n_train=200, n_test=20)
                       if args.quick else fashion_mnist(args.cache))
    emit(f"DDP pretraining epoch, {net}, {args.n_train} images of {described}, global batch "
         f"{args.batch}, {args.device}; {describe_machine(torch.device(args.device))}")
    settings = {"device": args.device, "net": net, "n_train": args.n_train, "batch": args.batch,
                "reps": args.reps, "threads": args.threads, "data": str(data)}
    out = {"net": net, "device": args.device, "n_train": args.n_train, "batch": args.batch,
           "threads_per_process": args.threads, "worlds": {}}
    for size in worlds:
        if args.batch % size:
            raise SystemExit(f"error: --batch {args.batch} is not divisible by {size} processes")
        seconds = time_world(size, settings)
        out["worlds"][str(size)] = {"epoch_s": seconds, "median_s": statistics.median(seconds)}
        emit(f"  {size} process(es): epoch {statistics.median(seconds):.2f} s "
             f"(per process batch {args.batch // size})")
    base = out["worlds"][str(worlds[0])]["median_s"]
    for size in worlds[1:]:
        speedup = base / out["worlds"][str(size)]["median_s"]
        out["worlds"][str(size)]["speedup_vs_first"] = speedup
        emit(f"  {size} vs {worlds[0]} process(es): {speedup:.2f}x")
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
