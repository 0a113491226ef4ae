"""Grid-search JiT's σ and η for one model and forget class, against the retrained model.

JiT's useful window is narrow (too small an η forgets nothing, too large a one destroys the
retained classes), so σ/η must be chosen per model. This loads the data and both checkpoints
once, runs JiT from the same original weights for every (σ, η), scores retained and forgotten
test accuracy from one test pass each, and marks the settings that meet the target: forget
accuracy within `--forget-gap` points of the retrained model's, retained accuracy at most
`--retain-drop` points below the original's.

    python scripts/tune_jit.py --net CNN --dataset FashionMNIST --classes 10 \
        --forget-class Sneaker --weights checkpoints/CNN-FashionMNIST.pth \
        --retrained checkpoints/CNN-FashionMNIST-without-Sneaker.pth \
        --sigma 0.25 0.5 1.0 --eta 2e-5 5e-5 1e-4
"""

import argparse
import copy
import sys

import torch

import datasets
import metrics
from lipschitz import JitOptions, lipschitz_forgetting
from models import build_model
from models.checkpoint import load_checkpoint, load_into
from unlearn.exit_codes import guarded


def test_scores(model, test_loader, forget_mask, device) -> tuple[float, float]:
    """(retained test accuracy, forgotten-class test accuracy) from one pass, in percent."""
    logits, labels = metrics.predict(model, test_loader, device)
    return (metrics.accuracy(logits[~forget_mask], labels[~forget_mask]),
            metrics.accuracy(logits[forget_mask], labels[forget_mask]))


def load(net, classes, dataset, path):
    model = build_model(net, classes)
    state, _ = load_checkpoint(path, arch=net, num_classes=classes, dataset=dataset)
    load_into(model, state, path)
    return model


@guarded
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--classes", type=int, required=True)
    parser.add_argument("--forget-class", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--retrained", required=True)
    parser.add_argument("--sigma", type=float, nargs="+", required=True)
    parser.add_argument("--eta", type=float, nargs="+", required=True)
    parser.add_argument("--n-samples", type=int, default=25)
    parser.add_argument("--b", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", action="store_true", help="published JiT form")
    parser.add_argument("--forget-gap", type=float, default=10.0)
    parser.add_argument("--retain-drop", type=float, default=5.0)
    return tune(parser.parse_args(argv))


def tune(args) -> int:
    device = torch.device("cpu")
    spec = datasets.DATASETS[args.dataset]
    train_set = datasets.load_split(args.dataset, True)
    test_set = datasets.load_split(args.dataset, False)
    label = datasets.resolve_class(args.dataset, args.forget_class)
    split = datasets.full_class_split(train_set.labels, test_set.labels, label)
    forget_mask = test_set.labels == label
    original = load(args.net, args.classes, args.dataset, args.weights)
    test_loader = datasets.BatchLoader(test_set, None, 512, spec=spec,
                                       image_size=original.input_size)
    forget_loader = datasets.BatchLoader(train_set, split.forget_train, args.b, spec=spec,
                                         image_size=original.input_size)
    base_retain, base_forget = test_scores(original, test_loader, forget_mask, device)
    retrained = load(args.net, args.classes, args.dataset, args.retrained)
    gold_retain, gold_forget = test_scores(retrained, test_loader, forget_mask, device)
    print(f"original: retain {base_retain:.2f} forget {base_forget:.2f}; "
          f"retrained: retain {gold_retain:.2f} forget {gold_forget:.2f}")
    print("| σ | η | retain test | forget test | meets target |")
    print("|---|---|---|---|---|")
    for sigma in args.sigma:
        for eta in args.eta:
            make = JitOptions.reference if args.reference else JitOptions
            options = make(sigma=sigma, eta=eta, n_samples=args.n_samples)
            options.seed = args.seed
            torch.manual_seed(args.seed)
            model = copy.deepcopy(original)
            lipschitz_forgetting(model, forget_loader, device, options,
                                 valid_range=datasets.valid_range(spec))
            retain, forget = test_scores(model, test_loader, forget_mask, device)
            ok = (abs(forget - gold_forget) <= args.forget_gap
                  and base_retain - retain <= args.retain_drop)
            print(f"| {sigma:g} | {eta:g} | {retain:.2f} | {forget:.2f} | "
                  f"{'yes' if ok else ''} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
