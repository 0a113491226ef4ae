"""Forget random training samples (published `forget_random_main.py`).

-forget_perc keeps its published meaning (0.00165 of CIFAR-10's 50,000 images is 83 samples,
not the 100 the published script's comment says); -forget_count gives an exact number. Here
Df is the accuracy on the forgotten training samples, and retain-test is the whole test set.

    python forget_random_main.py -net VGG16 -dataset Cifar10 -classes 10 -gpu \
        -method lipschitz_forgetting -forget_perc 0.00165 -weight_path VGG16Cifar10.pth -seed 1
"""

import sys

from unlearn.run.cli import forget_main, guarded

# JiT settings per network (σ noise std, η SGD learning rate, N noisy copies); edit here.
JIT = {
    "VGG16": dict(sigma=0.01, eta=3e-4, n_samples=25),  # published (tuned with -jit_reference)
    "ViT": dict(sigma=0.5, eta=0.1, n_samples=25),  # published (tuned with -jit_reference)
    "ResNet18": dict(sigma=0.01, eta=3e-4, n_samples=25),  # none published: VGG16's
    "CNN": dict(sigma=0.5, eta=5e-5, n_samples=25),  # full-class demo value, not retuned
}

# Other methods' defaults are declared beside each method in unlearn/methods/.
TABLES = {"lipschitz_forgetting": JIT}


def wandb_names(args) -> tuple[str, str]:
    amount = args.forget_perc if args.forget_perc is not None else f"n{args.forget_count}"
    return (f"REDONELipschitzFinal_{args.net}_{args.dataset}_random_{amount}perc",
            f"with_mean_{args.method}")


@guarded
def main(argv=None) -> int:
    return forget_main("random", argv, default_batch=128, default_seed=0,
                       wandb_names=wandb_names)


if __name__ == "__main__":
    sys.exit(main())
