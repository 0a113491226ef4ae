"""Evaluation with the population membership attacks and their power against the same
evaluation without them.

    python -m bench.bench_attacks                      # trained demo CNN, Fashion-MNIST, CPU
    python -m bench.bench_attacks --task random --threads 1

with    = the evaluation as a run makes it (experiment.evaluate): one pass per split, the
          accuracies, the published MIA, and the loss / confidence / entropy / entropy-regression
          attacks with their ROC AUC and TPR at 1 % and 0.1 % FPR (random task: matched
          non-members drawn), plus their power: the original model (here a copy of the same
          weights, made inside the timing as a run reads its checkpoint again) over the forget
          set and the matched non-members alone (experiment.original_attack_outputs);
without = metrics.evaluate with attacks=False (the evaluation before the attacks existed).
The attacks reuse the logits of the passes the evaluation makes anyway; the power costs two
passes over the forget set and as many test images. Target: with / without <= 1.25.
Same model, same data, same loaders, alternated.

On a busy shared CPU the end-to-end ratio carries the noise of long inference passes, so the
power's passes are also timed alone, alternated with the other two (each repetition's three
timings lie close in time), and the attacks' own step (matched non-members, scores, ROC
summaries, on logits computed once) repeatedly; reported as
(without + attack step + power passes) / without, paired by repetition.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from bench.bench_eval import load_model as load_eval_model
from bench.bench_eval import load_sets
from bench.common import (
    DEFAULT_CACHE,
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
from unlearn.data import datasets
from unlearn.eval import metrics
from unlearn.run import experiment


def make_split(task: str, dataset: str, train_set, test_set, forget_class: int, count: int):
    if task == "random":
        forget, retain = datasets.random_split_indices(len(train_set.labels), count=count, seed=0)
        return datasets.Split(forget, retain, torch.empty(0, dtype=torch.long),
                              torch.arange(len(test_set.labels)))
    return datasets.full_class_split(train_set.labels, test_set.labels, forget_class)


def power_outputs(model, device, loaders, test_set, split, args, loader):
    """The original model's outputs on the attacks' samples, as a run gets them (a second
    model with the same weights stands in for the checkpoint read again)."""
    return experiment.original_attack_outputs(
        copy.deepcopy(model), device, task=args.task, seed=0,
        forget_train=loaders["forget_train"], test_set=test_set, forget_test=split.forget_test,
        loader=loader)


def attack_step_seconds(model, device, loaders, split, args) -> list[float]:
    """Seconds of the attacks' arithmetic alone on logits inferred once, as evaluate does it."""
    from unlearn.eval.attacks.population import entropies, matched_nonmembers, population_attacks

    outputs = {name: metrics.predict(model, loader, device) for name, loader in loaders.items()}
    (test, test_y), (retain, _), (forget, forget_y) = (
        outputs["test"], outputs["retain_train"], outputs["forget_train"])
    regression = metrics.fit_entropy_attack(entropies(retain), entropies(test))
    seconds = []
    for _ in range(max(args.reps, 3)):
        started = time.perf_counter()
        if args.task == "random":
            member, nonmember = matched_nonmembers(forget_y, test_y, 0)
        else:
            member = torch.arange(len(forget_y))
            nonmember = split.forget_test
        population_attacks(forget[member], forget_y[member], test[nonmember], test_y[nonmember],
                           entropy_regression=regression)
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--net", default="CNN")
    parser.add_argument("--dataset", choices=["FashionMNIST", "Cifar100"], default="FashionMNIST")
    parser.add_argument("--task", choices=["full_class", "random"], default="full_class")
    parser.add_argument("--forget-class", default=None, help="default: 0, or rocket (Cifar100)")
    parser.add_argument("--forget-count", type=int, default=6000,
                        help="random task: training samples forgotten")
    parser.add_argument("--generated", action="store_true")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--limit-train", type=int, default=None)
    parser.add_argument("--limit-test", type=int, default=None)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--eval-batch", type=int, default=0)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--quick", action="store_true", help="tiny generated data, for tests")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.reps = args.n_train or 300, args.n_test or 50, 2
        args.forget_count = min(args.forget_count, 30)
    apply_threads(args.threads)
    device = resolve_device(args.device)
    spec, _, data_text, forget_class, train_set, test_set = load_sets(args)
    split = make_split(args.task, args.dataset, train_set, test_set, forget_class,
                       args.forget_count)
    model, weights = load_eval_model(args, spec.num_classes, device)
    batch = args.eval_batch or experiment.evaluation_batch(model.input_size, device)

    def loader(images, indices):
        return datasets.BatchLoader(images, indices, batch, spec=spec,
                                    image_size=model.input_size)

    loaders = {"test": loader(test_set, None), "retain_train": loader(train_set,
                                                                      split.retain_train),
               "forget_train": loader(train_set, split.forget_train)}
    emit(f"Attack cost benchmark on {describe_machine(device)}")
    emit(f"{args.net} ({weights}); {data_text}: {len(train_set)} train / {len(test_set)} test "
         f"images; task {args.task}, {len(split.forget_train)} forget images; "
         f"{args.reps} repetitions")
    scores = {}

    def run(attacks: bool):
        def call():
            original = (power_outputs(model, device, loaders, test_set, split, args, loader)
                        if attacks else None)
            scores[attacks] = metrics.evaluate(
                model, device, forget_test_mask=split.forget_test, task=args.task,
                attacks=attacks, seed=0, original=original, **loaders)
        return call

    if device.type == "cuda":
        run(True)()  # untimed warm-up
    def power():
        power_outputs(model, device, loaders, test_set, split, args, loader)

    times = alternate({"with": run(True), "without": run(False), "power": power}, args.reps,
                      device)
    cost = ratio(times["with"], times["without"])
    for name, values in times.items():
        emit(f"  {name:8s} s {spread(values)}")
    emit(f"  with / without = {show_ratio(cost)}   (target: <= 1.25)")
    for name in ("loss", "confidence", "entropy", "entropy_lr"):
        values = ", ".join(f"{key} {scores[True][f'attack_{name}_{key}']:.3f}"
                           for key in ("auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct"))
        emit(f"  {name:10s} {values}")
    for name in ("loss", "confidence", "entropy", "entropy_lr"):
        emit(f"  {name:10s} power: auc {scores[True][f'attack_{name}_auc_original']:.3f}")
    steps = attack_step_seconds(model, device, loaders, split, args)
    step = statistics.median(steps)
    added = ratio([w + step + p for w, p in zip(times["without"], times["power"])],
                  times["without"])
    emit(f"  attack step alone s {step:.3g}; power passes alone s {spread(times['power'])} -> "
         f"(without + step + power) / without = {show_ratio(added)}")
    same = all(scores[True][key] == value for key, value in scores[False].items())
    emit(f"  every metric of the evaluation without attacks unchanged: {same}")
    out = {"device": describe_machine(device), "net": args.net, "data": data_text,
           "task": args.task, "times": times, "with_over_without": cost,
           "attack_step_s": steps, "power_s": times["power"],
           "without_plus_step_over_without": added,
           "scores": scores[True], "unchanged": same}
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
