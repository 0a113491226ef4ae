"""bfloat16 autocast of the no-grad passes: speed-up, and how far it moves JiT and the metrics.

    python -m bench.bench_bf16                        # CPU: trained demo CNN on Fashion-MNIST
    python -m bench.bench_bf16 --device cuda --net VGG16

Options under test (off by default): `JitOptions(autocast_bf16=True)` (JiT's perturbed
forwards; the clean forward that carries the gradient stays float32) and
`metrics.evaluate(..., autocast_bf16=True)` (the evaluation passes).

JiT: one step on B forget images from the same weights and the same noise, float32 vs bf16,
for σ = 0.5 (full-class setting) and σ = 0.01 (published sub-class/random VGG16 setting, the
hard case: the output differences ‖f(x) − f(x̃)‖ are then small against bf16 rounding of the
logits). The movement is the relative L2 difference of the loss and of the update Δθ. As a
yardstick, the same is given between two float32 steps with different noise draws: bf16 is
called safe at a σ when it moves the update by at most a quarter of that.
Evaluation: every metric with and without autocast, and the time of each (alternated).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from bench.common import (
    DEFAULT_CACHE,
    TRAINED_CNN,
    alternate,
    apply_threads,
    describe_machine,
    emit,
    fashion_mnist,
    model_with_weights,
    ratio,
    resolve_device,
    show_ratio,
    spread,
    subset,
    write_json,
)
from unlearn.data import datasets
from unlearn.eval import metrics
from unlearn.methods.lipschitz import JitOptions, lipschitz_forgetting

SIGMAS = (0.5, 0.01)
SAFE_FRACTION = 0.25  # bf16 is "safe" if it moves Δθ by <= this fraction of a noise redraw


def flat_weights(model: torch.nn.Module) -> torch.Tensor:
    """Every weight in one vector, in logical order whatever the memory layout."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def jit_step(model, x, sigma: float, eta: float, n_samples: int, seed: int, bf16: bool,
             device, valid_range) -> tuple[float, torch.Tensor]:
    """Loss and update Δθ of one JiT step on a copy of `model`."""
    copied = copy.deepcopy(model)
    before = flat_weights(copied).detach().clone()
    options = JitOptions(sigma=sigma, eta=eta, n_samples=n_samples, seed=seed,
                         autocast_bf16=bf16)
    loss = lipschitz_forgetting(copied, [(x, None)], device, options, valid_range)["loss_first"]
    return loss, (flat_weights(copied).detach() - before).double()


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def jit_movement(model, x, sigma: float, args, device, valid_range) -> dict:
    loss32, step32 = jit_step(model, x, sigma, args.eta, args.n_samples, 0, False, device,
                              valid_range)
    loss16, step16 = jit_step(model, x, sigma, args.eta, args.n_samples, 0, True, device,
                              valid_range)
    loss_redraw, step_redraw = jit_step(model, x, sigma, args.eta, args.n_samples, 1, False,
                                        device, valid_range)
    moved = relative(step16, step32)
    redraw = relative(step_redraw, step32)
    cosine = torch.nn.functional.cosine_similarity(step16, step32, dim=0).item()
    return {"sigma": sigma, "loss_fp32": loss32, "loss_bf16": loss16,
            "loss_rel_bf16": abs(loss16 - loss32) / abs(loss32),
            "loss_rel_redraw": abs(loss_redraw - loss32) / abs(loss32),
            "update_rel_bf16": moved, "update_rel_redraw": redraw, "update_cosine": cosine,
            "safe": moved <= SAFE_FRACTION * redraw}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--net", default="CNN", help="CNN (trained demo weights if present), "
                                                      "VGG16, ...")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--generated", action="store_true")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--n-samples", type=int, default=25)
    parser.add_argument("--eta", type=float, default=1e-4)
    parser.add_argument("--limit-train", type=int, default=None,
                        help="evaluate on the first N training images only")
    parser.add_argument("--limit-test", type=int, default=None,
                        help="evaluate on the first N test images only")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--quick", action="store_true", help="tests: generated 300/50, B=8, N=3")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    device = resolve_device(args.device)
    if args.quick:
        args.batch, args.n_samples, args.reps = 8, 3, 2
    data_dir, text = fashion_mnist(Path(args.cache), args.generated or args.quick,
                                   *((300, 50) if args.quick else (60_000, 10_000)))
    spec = datasets.DATASETS["FashionMNIST"]
    train = datasets.load_split("FashionMNIST", True, str(data_dir))
    test = datasets.load_split("FashionMNIST", False, str(data_dir))
    train, test = subset(train, args.limit_train or None), subset(test, args.limit_test or None)
    split = datasets.full_class_split(train.labels, test.labels, 0)
    path = args.checkpoint or (str(TRAINED_CNN) if args.net == "CNN" and TRAINED_CNN.exists()
                               and "generated" not in text else None)
    model = model_with_weights(args.net, 10, path, device)
    weights = f"weights {path}" if path else "random init"
    emit(f"bf16 autocast benchmark on {describe_machine(device)}")
    emit(f"{args.net} ({weights}), {text}; JiT B={args.batch}, N={args.n_samples}, "
         f"η={args.eta}; {args.reps} repetitions")
    valid_range = datasets.valid_range(spec)
    x, _ = next(iter(datasets.BatchLoader(train, split.forget_train, args.batch, spec=spec,
                                          image_size=model.input_size)))
    x = x.to(device)

    out = {"device": describe_machine(device), "net": args.net, "weights": weights, "jit": []}
    for sigma in SIGMAS:
        move = jit_movement(model, x, sigma, args, device, valid_range)
        out["jit"].append(move)
        verdict = "safe" if move["safe"] else "UNSAFE"
        emit(f"  JiT σ={sigma}: loss fp32 {move['loss_fp32']:.5g} bf16 {move['loss_bf16']:.5g} "
             f"(rel {move['loss_rel_bf16']:.2e}; a noise redraw: {move['loss_rel_redraw']:.2e});"
             f" update moved {move['update_rel_bf16']:.2e} relative L2, cosine "
             f"{move['update_cosine']:.5f} (a noise redraw: {move['update_rel_redraw']:.2e})"
             f" -> {verdict}")
    options = {bf16: JitOptions(sigma=SIGMAS[0], eta=args.eta, n_samples=args.n_samples,
                                autocast_bf16=bf16) for bf16 in (False, True)}
    stepped = copy.deepcopy(model)  # timed steps change weights; evaluation uses `model`
    times = alternate({f"jit {name}": (lambda o=options[bf16], m=stepped: lipschitz_forgetting(
        m, [(x, None)], device, o, valid_range))
        for name, bf16 in (("fp32", False), ("bf16", True))}, args.reps, device)
    speed = ratio(times["jit fp32"], times["jit bf16"])
    emit(f"  JiT step s: fp32 {spread(times['jit fp32'])}, bf16 {spread(times['jit bf16'])}; "
         f"fp32 / bf16 = {show_ratio(speed)}")
    out["jit_speedup"] = speed

    def loader(images, indices):
        return datasets.BatchLoader(images, indices, 512, spec=spec, image_size=model.input_size)

    scores = {}

    def evaluate(bf16: bool):
        scores[bf16] = metrics.evaluate(
            model, device, test=loader(test, None), retain_train=loader(train, split.retain_train),
            forget_train=loader(train, split.forget_train), forget_test_mask=split.forget_test,
            autocast_bf16=bf16)

    times = alternate({"fp32": lambda: evaluate(False), "bf16": lambda: evaluate(True)},
                      args.reps, device)
    speed = ratio(times["fp32"], times["bf16"])
    emit(f"  evaluation s: fp32 {spread(times['fp32'])}, bf16 {spread(times['bf16'])}; "
         f"fp32 / bf16 = {show_ratio(speed)}")
    scalars = [k for k, v in scores[False].items() if isinstance(v, float)]  # not per-class
    deltas = {k: scores[True][k] - scores[False][k] for k in scalars}
    emit("  metrics fp32 -> bf16: " + "; ".join(
        f"{k} {scores[False][k]:.4g} -> {scores[True][k]:.4g}" for k in scalars))
    out.update(eval_speedup=speed, eval_fp32={k: scores[False][k] for k in scalars},
               eval_bf16={k: scores[True][k] for k in scalars},
               eval_delta=deltas)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
