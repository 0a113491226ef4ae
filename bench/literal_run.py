"""The published full-class JiT pipeline, re-stated literally, as one process (for bench_run
and bench_memory): seed -> model -> materialised per-class lists -> JiT loop -> per-split
evaluation with the batch-1 attack. The published scripts' 10 s sleeps are left out.

    python -m bench.literal_run --dataset Cifar100 --classes 100 --forget-class rocket \
        --net VGG16 --weight-path CKPT --data-dir DIR --sigma 0.5 --eta 3e-4 --json OUT.json

Writes a JSON object: metrics under the published names, the time of each phase (data, JiT,
evaluation, seconds) and this process's peak resident memory (MB).
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch

from bench import literal
from bench.common import peak_rss_mb, synchronize, write_json
from models import build_model
from models.checkpoint import load_checkpoint
from unlearn.data import datasets


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=list(datasets.DATASETS))
    parser.add_argument("--classes", type=int, required=True)
    parser.add_argument("--forget-class", required=True, help="name or index")
    parser.add_argument("--net", required=True)
    parser.add_argument("--model-options", default="{}",
                        help="JSON keyword options of the model (e.g. a ViT config)")
    parser.add_argument("--weight-path", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-b", "--batch-size", type=int, default=128)
    parser.add_argument("--sigma", type=float, required=True)
    parser.add_argument("--eta", type=float, required=True)
    parser.add_argument("--n-samples", type=int, default=25)
    parser.add_argument("--jit-form", choices=["published", "default"], default="published",
                        help="published: train mode, batch clamp, .grad never cleared; "
                             "default: the tool's default form (eval, data range, cleared)")
    parser.add_argument("--noise", choices=["shared", "published"], default="shared",
                        help="JiT noise: the tool's draws (shared, same results) or drawn per "
                             "repetition on the CPU and copied over (published)")
    parser.add_argument("--limit-train", type=int, default=None, help="first N train items")
    parser.add_argument("--limit-test", type=int, default=None, help="first N test items")
    parser.add_argument("--json", default=None, help="write the result here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    device = torch.device(args.device)
    spec = datasets.DATASETS[args.dataset]
    forget_class = datasets.resolve_class(args.dataset, args.forget_class)

    model = build_model(args.net, args.classes, **json.loads(args.model_options))
    state, _ = load_checkpoint(args.weight_path)
    model.load_state_dict(state)
    model.to(device)  # left in train mode, as published

    phase = time.perf_counter()
    data = literal.published_data(args.dataset, args.classes, forget_class, args.data_dir,
                                  model.input_size, args.batch_size, args.limit_train,
                                  args.limit_test)
    data_s = time.perf_counter() - phase

    published = args.jit_form == "published"
    if not published:
        model.eval()
    synchronize(device)
    phase = time.perf_counter()
    generator = torch.Generator(device=device if args.noise == "shared" else "cpu")
    generator.manual_seed(args.seed)  # as the tool seeds its noise generator
    losses = literal.literal_jit(
        model, data.forget_train_dl, device, sigma=args.sigma, eta=args.eta,
        n_samples=args.n_samples, generator=generator,
        clamp="batch" if published else "data_range", valid_range=datasets.valid_range(spec),
        clear_grads=not published, noise=args.noise)
    synchronize(device)
    method_s = time.perf_counter() - phase

    phase = time.perf_counter()
    scores = literal.metric_scores(model, data, device)
    eval_s = time.perf_counter() - phase
    result = {
        "metrics": scores, "jit_losses": losses, "data_s": data_s, "method_s": method_s,
        "eval_s": eval_s, "wall_in_process_s": time.perf_counter() - started,
        "n_train": len(data.trainset), "n_test": len(data.validset),
        "n_forget": len(data.forget_train_dl.dataset), "peak_rss_mb": peak_rss_mb(),
    }
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
