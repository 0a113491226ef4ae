"""Forget one whole class (published `forget_full_class_main.py`).

    python forget_full_class_main.py -net VGG16 -dataset Cifar100 -classes 100 -gpu \
        -method lipschitz_forgetting -forget_class rocket -weight_path VGG16Cifar100.pth -seed 1
"""

import sys

from unlearn.run.cli import forget_main, guarded

# JiT settings per network, as users edit them here. σ: noise std in normalised input units;
# η: SGD learning rate; N: noisy copies per forget sample. -sigma/-eta/-n_samples override.
JIT = {
    "VGG16": dict(sigma=0.5, eta=3e-4, n_samples=25),  # published (tuned with -jit_reference)
    "ViT": dict(sigma=0.8, eta=1.5, n_samples=25),  # published (tuned with -jit_reference)
    "ResNet18": dict(sigma=0.5, eta=3e-4, n_samples=25),  # none published: VGG16's
    "CNN": dict(sigma=0.5, eta=5e-5, n_samples=25),  # tuned on the `make demo` model (README)
}

# Tables of other methods' settings may sit here too ({method: {network: values}}); the
# defaults of every method are declared beside it in unlearn/methods/. Runs, sweeps and the
# tuner read TABLES from this file's text (plain literals; unlearn/methods/hyperparameters.py).
TABLES = {"lipschitz_forgetting": JIT}


def wandb_names(args) -> tuple[str, str]:
    """Published project and run names (the run name carries SSD's select value, as published)."""
    select_val = 3.5 if args.net == "ViT" else 10
    return (f"PINSFINAL_LipschitzFinal_{args.net}_{args.dataset}_fullclass",
            f"{args.method}_{select_val}_{args.forget_class}")


@guarded
def main(argv=None) -> int:
    return forget_main("full_class", argv, default_batch=128, default_seed=0,
                       wandb_names=wandb_names)


if __name__ == "__main__":
    sys.exit(main())
