"""Memory: peak resident memory of a full-class JiT run at 224 px (a tiny ViT) on Fashion-MNIST,
the tool against the literal pipeline's materialised lists; each a fresh process.

    python -m bench.bench_memory                     # CPU; the tool's run takes ~10 min here
    python -m bench.bench_memory --literal-items 2000,4000 --device cuda

The tool's run is the whole thing (60,000 train / 10,000 test images, forget one class =
6,000 images, B=128, N=25). The literal pipeline keeps every transformed image as a float32
tensor in Python lists: 3·224·224·4 B = 0.6 MB per image, about 42 GB for the 70,000 images,
more than this machine has. It is therefore run on the first k train images (and k/6 test
images) for two values of k, and its peak is EXTRAPOLATED linearly (a line through the two
measured points) to the full data set; the payload alone (images × 0.6 MB) is printed as a
lower bound. --literal-full runs it on everything instead (only where memory allows).
Peak memory = VmHWM of each process (/proc/self/status), read at its end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.common import (
    DEFAULT_CACHE,
    apply_threads,
    emit,
    fashion_mnist,
    random_checkpoint,
    run_child,
    write_json,
)
from models.vit import tiny_vit_config

SIGMA, ETA, N_SAMPLES, BATCH = 0.8, 1e-3, 25, 128  # σ as published for ViT; η small (random init)


def tool_peak(setup: dict, args, work: Path) -> dict:
    config = {"task": "full_class", "net": "ViT", "dataset": "FashionMNIST", "num_classes": 10,
              "method": "lipschitz_forgetting", "weight_path": setup["weights"],
              "forget_class": "0", "seed": 0, "batch_size": BATCH,
              "gpu": args.device == "cuda", "data_dir": setup["data_dir"],
              "results_path": str(work / "tool.jsonl"),
              "hyperparameters": {"sigma": SIGMA, "eta": ETA, "n_samples": N_SAMPLES,
                                  "batch_size": BATCH, "chunk_size": args.tool_chunk},
              "model_options": setup["model_options"]}
    report = work / "tool.report.json"
    wall = run_child([sys.executable, "-m", "bench.run_tool", "--report", str(report),
                      "--config-json", json.dumps(config)], args.timeout)
    return {"peak_mb": json.loads(report.read_text())["peak_rss_mb"], "wall_s": wall}


def literal_peak(setup: dict, args, work: Path, n_train: int | None,
                 n_test: int | None) -> dict:
    out = work / f"literal-{n_train}.json"
    cmd = [sys.executable, "-m", "bench.literal_run", "--dataset", "FashionMNIST",
           "--classes", "10", "--forget-class", "0", "--net", "ViT",
           "--model-options", json.dumps(setup["model_options"]),
           "--weight-path", setup["weights"], "--data-dir", setup["data_dir"],
           "--device", args.device, "--sigma", str(SIGMA), "--eta", str(ETA),
           "--n-samples", str(N_SAMPLES), "-b", str(BATCH), "--json", str(out)]
    if n_train is not None:
        cmd += ["--limit-train", str(n_train), "--limit-test", str(n_test)]
    wall = run_child(cmd, args.timeout)
    result = json.loads(out.read_text())
    return {"items": result["n_train"] + result["n_test"], "n_train": result["n_train"],
            "n_test": result["n_test"], "peak_mb": result["peak_rss_mb"], "wall_s": wall}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--image-size", type=int, default=224, help="ViT input size, px")
    parser.add_argument("--literal-items", default="2000,4000",
                        help="two training-subset sizes k for the literal runs (+k/6 test)")
    parser.add_argument("--tool-chunk", type=int, default=0,
                        help="the tool's JiT chunk_size (images per no-grad forward; 0 = auto)")
    parser.add_argument("--tool-only", action="store_true", help="skip the literal runs")
    parser.add_argument("--literal-full", action="store_true",
                        help="run the literal pipeline on the whole data (needs ~45 GB)")
    parser.add_argument("--generated", action="store_true",
                        help="generated Fashion-MNIST-shaped data even if the real one exists")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per process")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--quick", action="store_true",
                        help="tests: generated 300/50 images, ViT at 32 px, subsets 100,200")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    sizes = (300, 50) if args.quick else (60_000, 10_000)
    if args.quick:
        args.image_size, args.literal_items = 32, "100,200"
    data_dir, text = fashion_mnist(Path(args.cache), args.generated or args.quick, *sizes)
    options = {"config": tiny_vit_config(args.image_size)}
    weights = random_checkpoint(Path(args.cache), "ViT", "FashionMNIST", 10, options,
                                tag=f"-tiny{args.image_size}")
    setup = {"data_dir": str(data_dir), "weights": str(weights), "model_options": options}
    emit(f"Memory benchmark: tiny ViT at {args.image_size} px (random init), {text}, "
         f"full-class JiT (B={BATCH}, N={N_SAMPLES}), device {args.device}")
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as work:
        tool = tool_peak(setup, args, Path(work))
        emit(f"  tool    : peak {tool['peak_mb']:.0f} MB (whole run, {tool['wall_s']:.0f} s, "
             f"JiT chunk {args.tool_chunk or 'auto'})")
        if args.tool_only:
            write_json(args.json, {"tool": tool})
            return {"tool": tool}
        if args.literal_full:
            points = [literal_peak(setup, args, Path(work), None, None)]
        else:
            ks = [int(k) for k in args.literal_items.split(",")]
            points = [literal_peak(setup, args, Path(work), k, k // 6) for k in ks]
    for p in points:
        emit(f"  literal : peak {p['peak_mb']:.0f} MB measured with {p['n_train']} train + "
             f"{p['n_test']} test images ({p['wall_s']:.0f} s)")
    full_items = sum(sizes)
    image_mb = 3 * args.image_size ** 2 * 4 / 2**20
    if args.literal_full:
        literal_mb, how = points[0]["peak_mb"], "measured"
    else:
        (x0, y0), (x1, y1) = ((p["items"], p["peak_mb"]) for p in points[:2])
        per_item = (y1 - y0) / (x1 - x0)
        literal_mb = y0 + per_item * (full_items - x0)
        how = (f"EXTRAPOLATED linearly to {full_items} images "
               f"({per_item:.3f} MB per image measured, {image_mb:.3f} MB of pixels)")
        emit(f"  literal : {literal_mb:.0f} MB {how}; pixels alone "
             f"{full_items * image_mb:.0f} MB")
    emit(f"  literal / tool = {literal_mb / tool['peak_mb']:.1f}x ({how}); targets: tool < 3000 "
         f"MB, >= 5x below the literal")
    out = {"tool": tool, "literal_points": points, "literal_mb": literal_mb,
           "literal_how": how, "ratio": literal_mb / tool["peak_mb"], "data": text,
           "image_size": args.image_size}
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
