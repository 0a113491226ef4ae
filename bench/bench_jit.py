"""JiT step: the tool's batched step against the literal per-repetition loop and the compute limit.

    python -m bench.bench_jit                      # VGG16 32 px and a tiny ViT 224 px, B=128, N=25
    python -m bench.bench_jit --device cuda        # small ViT (hidden 192, 6 layers) on a GPU
    python -m bench.bench_jit --nets VGG16 --batch 64 --n-samples 10 --reps 3

Per network, on one batch of B forget images:
  tool    = `lipschitz.lipschitz_forgetting` over that batch (perturb, the chunked no-grad
            forwards, the clean forward, backward, SGD step: exactly what a run does per batch);
  literal = `bench.literal.literal_jit` (the published loop: per repetition deepcopy, noise, clamp,
            no-grad forward), in the cleared form the tool uses by default, with the tool's
            noise draws (so the check below can compare);
  literal_cpu_noise = the same loop with the published noise: each repetition drawn on the
            CPU and copied to the device (timed by default on CUDA, --published-noise);
  limit   = (N+1) forwards and one backward at batch size B, nothing else: the model compute
            any implementation must do.
First both are run once from the same weights and the same noise, and the losses and
updates are compared (max abs difference); then the three are timed alternately.
η is small (1e-4) so repeated steps keep the weights sane; it does not change the work.
Defaults on a CPU: 2 repetitions (VGG16 at B=128, N=25 is about 30-60 s per step on 2 cores,
so the bench takes several minutes); on CUDA 5 repetitions.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from bench.common import (
    alternate,
    apply_threads,
    describe_machine,
    emit,
    ratio,
    resolve_device,
    show_ratio,
    spread,
    write_json,
)
from bench.literal import literal_jit
from models import build_model
from models.vit import tiny_vit_config
from unlearn.data import datasets
from unlearn.devices import use_channels_last_on_cpu
from unlearn.methods.lipschitz import JitOptions, lipschitz_forgetting

SIGMA = {"VGG16": 0.5, "ViT": 0.8, "CNN": 0.5}  # published σ per network (CNN: the tool's)
SMALL_VIT = {"hidden_size": 192, "num_hidden_layers": 6, "num_attention_heads": 3,
             "intermediate_size": 768, "image_size": 224, "patch_size": 16}


def build(net: str, vit_size: str, vit_image: int, num_classes: int = 100) -> nn.Module:
    torch.manual_seed(0)
    if net != "ViT":
        return build_model(net, num_classes)
    config = dict(SMALL_VIT, image_size=vit_image) if vit_size == "small" else (
        tiny_vit_config(vit_image))
    return build_model("ViT", num_classes, config=config)


def forget_batch(batch: int, image_size: int, device: torch.device) -> torch.Tensor:
    """B random images through the tool's transform (CIFAR-100 normalisation, resize)."""
    spec = datasets.DATASETS["Cifar100"]
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.zeros(batch, dtype=torch.long)
    images = datasets.ImageSet(pixels, labels, labels)
    x, _ = next(iter(datasets.BatchLoader(images, None, batch, spec=spec,
                                          image_size=image_size)))
    return x.to(device)


def model_compute(model: nn.Module, x: torch.Tensor, n_samples: int) -> None:
    """The limit: N no-grad forwards and one forward + backward of the batch, nothing else."""
    model.eval()
    with torch.no_grad():
        for _ in range(n_samples):
            model(x)
    model(x).sum().backward()
    model.zero_grad(set_to_none=True)


def check_same_step(model: nn.Module, x: torch.Tensor, options: JitOptions,
                    valid_range, device: torch.device) -> dict[str, float]:
    """One step of each from the same weights and noise: loss and update differences."""
    tool, lit = copy.deepcopy(model), copy.deepcopy(model)
    before = [p.detach().clone() for p in model.parameters()]
    result = lipschitz_forgetting(tool, [(x, None)], device, options, valid_range)
    lit.eval()
    generator = torch.Generator(device=device).manual_seed(options.seed)
    losses = literal_jit(lit, [(x, None)], device, sigma=options.sigma, eta=options.eta,
                         n_samples=options.n_samples, generator=generator,
                         clamp=options.clamp, valid_range=valid_range, clear_grads=True)
    update = max((p.detach() - b).abs().max().item()
                 for p, b in zip(tool.parameters(), before))
    diff = max((p.detach() - q.detach()).abs().max().item()
               for p, q in zip(tool.parameters(), lit.parameters()))
    # the float rounding step of the largest weight: updates are only known to about this
    weight_ulp = max(torch.finfo(p.dtype).eps * p.detach().abs().max().item()
                     for p in model.parameters())
    return {"loss_tool": result["loss_first"], "loss_literal": losses[0],
            "loss_abs_diff": abs(result["loss_first"] - losses[0]),
            "update_max_abs": update, "update_max_abs_diff": diff, "weight_ulp": weight_ulp}


def bench_network(net: str, args, device: torch.device) -> dict:
    model = build(net, args.vit_size, args.vit_image).to(device)
    spec = datasets.DATASETS["Cifar100"]
    valid_range = datasets.valid_range(spec)
    x = forget_batch(args.batch, model.input_size, device)
    options = JitOptions(sigma=SIGMA[net], eta=args.eta, n_samples=args.n_samples, seed=0,
                         autocast_bf16=args.bf16, chunk_size=args.chunk)
    label = net if net != "ViT" else f"ViT ({args.vit_size}, {model.input_size} px)"
    params = sum(p.numel() for p in model.parameters()) / 1e6
    emit(f"\n== {label}: {params:.1f} M parameters, input {model.input_size} px, "
         f"B={args.batch}, N={args.n_samples}, σ={options.sigma}, η={options.eta}, "
         f"chunk {options.chunk_size or 'auto'}, {args.reps} repetitions")
    check = check_same_step(model, x, options, valid_range, device)  # also the warm-up
    emit(f"same noise, same weights: loss tool {check['loss_tool']:.6g} literal "
         f"{check['loss_literal']:.6g} |diff| {check['loss_abs_diff']:.2e}; update max "
         f"|Δθ| {check['update_max_abs']:.2e}, max |Δθ_tool − Δθ_literal| "
         f"{check['update_max_abs_diff']:.2e}")
    # The literal loop runs the model as published (default memory layout); the tool and the
    # limit share the layout the tool picks (channels-last convolutions on a CPU), so the
    # limit is the fastest pure model compute the tool could reach.
    literal_model = copy.deepcopy(model)
    use_channels_last_on_cpu(model, device)
    model_compute(model, x, 1)  # warm-up of the limit's backward

    def tool():
        lipschitz_forgetting(model, [(x, None)], device, options, valid_range)

    def lit():
        literal_model.eval()
        generator = torch.Generator(device=device).manual_seed(0)
        literal_jit(literal_model, [(x, None)], device, sigma=options.sigma, eta=options.eta,
                    n_samples=options.n_samples, generator=generator, clamp=options.clamp,
                    valid_range=valid_range, clear_grads=True)

    def lit_published_noise():
        literal_model.eval()
        literal_jit(literal_model, [(x, None)], device, sigma=options.sigma, eta=options.eta,
                    n_samples=options.n_samples, generator=torch.Generator().manual_seed(0),
                    clamp=options.clamp, valid_range=valid_range, clear_grads=True,
                    noise="published")

    variants = {"tool": tool, "literal": lit,
                "limit": lambda: model_compute(model, x, args.n_samples)}
    if args.published_noise:
        variants["literal_cpu_noise"] = lit_published_noise
    times = alternate(variants, args.reps, device)
    speedup = ratio(times["literal"], times["tool"])
    to_limit = ratio(times["tool"], times["limit"])
    for name, values in times.items():
        emit(f"  {name:17s} s/step {spread(values)}")
    images_s = [args.batch / t for t in times["tool"]]
    emit(f"  tool: {spread(images_s)} forget images/s")
    emit(f"  literal / tool = {show_ratio(speedup)}   (target: >= 1 on a CPU, >= 3 on a GPU)")
    out = {"net": label, "batch": args.batch, "n_samples": args.n_samples, "check": check,
           "times": times, "literal_over_tool": speedup, "tool_over_limit": to_limit,
           "forget_images_per_s": images_s}
    if args.published_noise:
        out["literal_cpu_noise_over_tool"] = ratio(times["literal_cpu_noise"], times["tool"])
        emit(f"  literal with the published CPU noise / tool = "
             f"{show_ratio(out['literal_cpu_noise_over_tool'])}")
    emit(f"  tool / limit   = {show_ratio(to_limit)}   (target: <= 1.2 on a CPU)")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--nets", default="VGG16,ViT", help="comma-separated: VGG16,ViT,CNN")
    parser.add_argument("--batch", type=int, default=128, help="B, forget images per step")
    parser.add_argument("--n-samples", type=int, default=25, help="N, noisy copies per image")
    parser.add_argument("--reps", type=int, default=None, help="default: 2 on CPU, 5 on CUDA")
    parser.add_argument("--eta", type=float, default=1e-4)
    parser.add_argument("--vit-size", choices=["tiny", "small"], default=None,
                        help="tiny: hidden 32, 2 layers (CPU default); small: hidden 192, "
                             "6 layers (CUDA default)")
    parser.add_argument("--vit-image", type=int, default=224)
    parser.add_argument("--chunk", type=int, default=0,
                        help="tool's images per no-grad forward (JitOptions.chunk_size; 0 = auto)")
    parser.add_argument("--published-noise", action="store_true", default=None,
                        help="also time the literal loop with the published noise (each "
                             "repetition drawn on the CPU and copied over; default on CUDA)")
    parser.add_argument("--bf16", action="store_true",
                        help="tool's perturbed forwards in bfloat16 autocast")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes for tests: CNN and a tiny ViT at 32 px, B=4, N=3")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    device = resolve_device(args.device)
    if args.quick:
        args.nets, args.batch, args.n_samples, args.vit_image = "CNN,ViT", 4, 3, 32
        args.reps = args.reps or 2
    args.reps = args.reps or (5 if device.type == "cuda" else 2)
    if args.published_noise is None:
        args.published_noise = device.type == "cuda"
    args.vit_size = args.vit_size or ("small" if device.type == "cuda" else "tiny")
    emit(f"JiT step benchmark on {describe_machine(device)}")
    results = [bench_network(net, args, device) for net in args.nets.split(",")]
    out = {"device": describe_machine(device), "networks": results}
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
