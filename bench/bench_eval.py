"""Evaluation: the tool's metrics (one batched pass per split) against the published procedure.

    python -m bench.bench_eval                                  # CNN, Fashion-MNIST, CPU
    python -m bench.bench_eval --net VGG16 --limit-train 2000 --limit-test 400
    python -m bench.bench_eval --device cuda --net VGG16

tool    = `experiment.evaluate` as a run calls it: one pass over the test set, the retain train
          and forget train sets (batch 512), accuracies as slices, the attack on those logits;
literal = `bench.literal.metric_scores`: separate passes over the whole test set, the retain
          test list and the forget test list (batch 128, unweighted mean of batch accuracies),
          then probabilities one image at a time over retain train, forget train and test.
The literal's inputs (the per-class lists of the published data path) are built once before
the timing, as the published main builds them before the strategy runs; its test passes still
transform every item, as published. Same model, same data, same device, alternated.

Values: accuracies differ by design (sample-weighted vs mean of batch means); to show that
this is the only difference, the tool's own logits are also averaged per batch in the
published order and must equal the literal's numbers. The MIA comes from the same entropies
up to float error (published: float32 softmax; tool: float64), so it agrees to rounding.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from bench import literal
from bench.common import (
    DEFAULT_CACHE,
    TRAINED_CNN,
    alternate,
    apply_threads,
    cifar100_shaped,
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
from unlearn.run import experiment


def load_data(args) -> tuple[str | None, str]:
    """(data_dir, description) for the chosen dataset shape."""
    if args.dataset == "Cifar100":
        root = cifar100_shaped(Path(args.cache), args.n_train or 50_000, args.n_test or 10_000)
        return str(root), f"generated CIFAR-100-shaped data ({root})"
    root, text = fashion_mnist(Path(args.cache), args.generated or args.quick,
                               args.n_train or 60_000, args.n_test or 10_000)
    return str(root), text


def load_sets(args):
    """(spec, data folder, its description, forget class, train set, test set) from a
    benchmark's data options (--dataset, --forget-class, --limit-train, --limit-test, --quick)."""
    spec = datasets.DATASETS[args.dataset]
    data_dir, data_text = load_data(args)
    forget_class = datasets.resolve_class(
        args.dataset, args.forget_class or ("rocket" if args.dataset == "Cifar100" else "0"))
    train_set = subset(datasets.load_split(args.dataset, True, data_dir), args.limit_train)
    test_set = subset(datasets.load_split(args.dataset, False, data_dir), args.limit_test)
    return spec, data_dir, data_text, forget_class, train_set, test_set


def load_model(args, num_classes: int, device: torch.device) -> tuple[torch.nn.Module, str]:
    path = args.checkpoint
    if path is None and args.net == "CNN" and args.dataset == "FashionMNIST" and not (
            args.generated or args.quick) and TRAINED_CNN.exists():
        path = str(TRAINED_CNN)
    model = model_with_weights(args.net, num_classes, path, device)
    if path:
        return model, f"trained weights {path}"
    return model, "random initialisation (timing does not depend on the weights)"


def batch_means(logits: torch.Tensor, labels: torch.Tensor, batch: int) -> float:
    """Published accuracy of logits in loader order: mean over batches of batch accuracy."""
    correct = (logits.argmax(1) == labels).float()
    return torch.stack([c.mean() * 100 for c in correct.split(batch)]).mean().item()


def tool_as_published(model, test_set, spec, forget_class, device, batch: int) -> dict:
    """The tool's logits of the test set, averaged per batch in the literal's orders."""
    loader = datasets.BatchLoader(test_set, None, 512, spec=spec, image_size=model.input_size)
    logits, labels = metrics.predict(model, loader, device)
    forget = labels == forget_class
    retained = torch.nonzero(~forget).flatten()
    by_class = retained[torch.sort(labels[retained], stable=True).indices]  # class order
    return {"TestAcc": batch_means(logits, labels, batch),
            "RetainTestAcc": batch_means(logits[by_class], labels[by_class], batch),
            "Df": batch_means(logits[forget], labels[forget], batch)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--net", default="CNN", help="CNN (default), VGG16, ResNet18")
    parser.add_argument("--dataset", choices=["FashionMNIST", "Cifar100"],
                        default="FashionMNIST", help="Cifar100: generated, CIFAR-100-shaped")
    parser.add_argument("--generated", action="store_true",
                        help="generated Fashion-MNIST-shaped data even if the real one exists")
    parser.add_argument("--n-train", type=int, default=None, help="size of generated data")
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--limit-train", type=int, default=None,
                        help="use only the first N training images (both sides)")
    parser.add_argument("--limit-test", type=int, default=None)
    parser.add_argument("--forget-class", default=None, help="default: 0, or rocket (Cifar100)")
    parser.add_argument("--checkpoint", default=None,
                        help="weights (default: the trained demo CNN if present, else random)")
    parser.add_argument("--batch", type=int, default=128, help="published -b (literal loaders)")
    parser.add_argument("--eval-batch", type=int, default=0,
                        help="the tool's -eval_b (0: its automatic choice)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--quick", action="store_true",
                        help="tiny generated data (300 train, 50 test) for tests")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.reps = args.n_train or 300, args.n_test or 50, 2
    apply_threads(args.threads)
    device = resolve_device(args.device)
    spec, data_dir, data_text, forget_class, train_set, test_set = load_sets(args)
    split = datasets.full_class_split(train_set.labels, test_set.labels, forget_class)
    model, weights = load_model(args, spec.num_classes, device)
    emit(f"Evaluation benchmark on {describe_machine(device)}")
    emit(f"{args.net} ({weights}); {data_text}: {len(train_set)} train / {len(test_set)} test "
         f"images, forget class {forget_class} ({len(split.forget_train)} train images); "
         f"{args.reps} repetitions")

    started = time.perf_counter()
    lists = literal.published_data(args.dataset, spec.num_classes, forget_class, data_dir,
                                   model.input_size, args.batch, args.limit_train,
                                   args.limit_test)
    built = time.perf_counter() - started
    emit(f"(literal per-class lists built once, untimed here: {built:.1f} s)")
    config = experiment.RunConfig(task="full_class", net=args.net, dataset=args.dataset,
                                  num_classes=spec.num_classes, method="baseline",
                                  weight_path="", eval_batch_size=args.eval_batch)
    scores = {}
    # the literal runs the model as published (default memory layout); the tool converts its
    # own copy to the layout it picks (channels-last convolutions on a CPU)
    literal_model = copy.deepcopy(model)

    def tool():
        scores["tool"] = experiment.evaluate(model, config, spec, train_set, test_set, split,
                                             device)

    def lit():
        scores["literal"] = literal.metric_scores(literal_model, lists, device)

    if device.type == "cuda":
        tool()  # untimed warm-up (CUDA kernels and cuDNN plans); the literal's batch-1 passes
        # warm themselves up within their first images
    times = alternate({"tool": tool, "literal": lit}, args.reps, device)
    speedup = ratio(times["literal"], times["tool"])
    for name, values in times.items():
        emit(f"  {name:8s} s {spread(values)}")
    emit(f"  literal / tool = {show_ratio(speedup)}   (target: >= 5 on this CPU)")

    ours, theirs = scores["tool"], scores["literal"]
    as_published = tool_as_published(model, test_set, spec, forget_class, device, args.batch)
    pairs = {"TestAcc": "acc_test", "RetainTestAcc": "acc_retain_test", "Df": "acc_forget_test"}
    emit("  metric          tool (sample-weighted)  tool (batch means)  literal")
    for name, key in pairs.items():
        emit(f"  {name:14s}  {ours[key]:22.4f}  {as_published[name]:18.4f}  {theirs[name]:.4f}")
    emit(f"  MIA             {ours['mia']:22.4f}  {'':18s}  {theirs['MIA']:.4f}")
    agreement = {name: abs(as_published[name] - theirs[name]) for name in pairs}
    agreement["MIA"] = abs(ours["mia"] - theirs["MIA"])
    emit("  |tool batch means − literal|: " + ", ".join(
        f"{k} {v:.2e}" for k, v in agreement.items()))
    out = {"device": describe_machine(device), "net": args.net, "data": data_text,
           "n_train": len(train_set), "n_test": len(test_set), "times": times,
           "literal_over_tool": speedup, "tool": ours, "literal": theirs,
           "tool_batch_means": as_published, "abs_diff": agreement}
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
