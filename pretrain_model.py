"""Train the original model (published `pretrain_model.py`) or, with
-forget_class, the retrained gold standard without that class (-forget_subclass: without a
fine class; -forget_count N -forget_seed S: without the random task's N samples of seed S).

    python pretrain_model.py -net VGG16 -dataset Cifar100 -classes 100 -gpu
    torchrun --standalone --nproc_per_node 4 pretrain_model.py ... -gpu -b 256   # 4 GPUs

-b is the global batch; under torchrun each process takes -b / world size of it.
"""

import functools
import logging
import sys

from models import MODELS
from unlearn import exit_codes
from unlearn.data import datasets
from unlearn.run.cli import PRETRAIN_RESUME_HINT, Parser, flag, guarded, setup_logging
from unlearn.train import distributed
from unlearn.train.pretraining import PretrainConfig, pretrain


@functools.partial(guarded, resume_hint=PRETRAIN_RESUME_HINT)
def main(argv=None) -> int:
    parser = Parser(description="Train a classifier with the published recipe.",
                    epilog=exit_codes.EPILOG)
    flag(parser, "net", required=True, choices=list(MODELS))
    flag(parser, "dataset", required=True, choices=list(datasets.DATASETS))
    flag(parser, "classes", type=int, required=True, help="number of classes")
    flag(parser, "gpu", action="store_true", help="use CUDA (falls back to the CPU)")
    flag(parser, "b", type=int, default=64, help="batch size (published 64)")
    flag(parser, "warm", type=int, default=None,
         help="warm-up epochs (published 1; Fashion-MNIST recipe 0)")
    flag(parser, "lr", type=float, default=0.1,
         help="accepted for compatibility; the published OneCycle overrides it (peak 0.1)")
    flag(parser, "epochs", type=int, default=None, help="default: published count")
    flag(parser, "forget_class", default=None, help="leave this class out (retrained model)")
    flag(parser, "forget_subclass", default=None,
         help="leave this fine class out (sub-class retrained model, e.g. rocket on Cifar20)")
    flag(parser, "forget_count", type=int, default=None,
         help="with -forget_seed: leave out the N training samples the random task forgets "
              "(forget_random_main.py -forget_count N -forget_seed S), drawn after -train_subset")
    flag(parser, "forget_seed", type=int, default=None,
         help="the seed of the random forget set left out (with -forget_count)")
    flag(parser, "seed", type=int, default=0)
    flag(parser, "resume", action="store_true", help="continue an interrupted run")
    flag(parser, "accept_changed_settings", action="store_true",
         help="with -resume: continue even though settings differ from the checkpoint's "
              "(the change is recorded in it)")
    flag(parser, "skip_done", action="store_true",
         help="a finished checkpoint of the same recipe at -out is kept (nothing trained, exit "
              "code 3), a partial one resumed (sweeps append this); with -store a stored model "
              "is always reused (exit code 3 with this flag)")
    flag(parser, "out", default=None, help="checkpoint path")
    flag(parser, "data_dir", default=None)
    flag(parser, "vit_weights", default=None, help="local directory of ViT weights")
    flag(parser, "train_subset", type=int, default=None,
         help="train on a fixed seeded subset of this many images (the same for every seed)")
    flag(parser, "no_augment", action="store_true",
         help="no crop/flip/rotation augmentation (with -train_subset and many epochs: a model "
              "that memorises its training images, so membership attacks have power)")
    flag(parser, "store", default=None,
         help="model store folder: reuse the model of this recipe, or train it into the store "
              "(default for pools: $UNLEARN_STORE or checkpoints/store)")
    args = parser.parse_args(argv)
    world = distributed.world_from_env()
    setup_logging()
    if not world.is_main:  # torchrun: rank 0 speaks for all processes
        logging.getLogger().setLevel(logging.WARNING)
    summary = pretrain(PretrainConfig(
        net=args.net, dataset=args.dataset, num_classes=args.classes, batch_size=args.b,
        warm=args.warm, epochs=args.epochs, forget_class=args.forget_class,
        forget_subclass=args.forget_subclass, forget_count=args.forget_count,
        forget_seed=args.forget_seed, seed=args.seed,
        gpu=args.gpu, resume=args.resume, accept_changed_settings=args.accept_changed_settings,
        out=args.out, data_dir=args.data_dir,
        model_options={"weights": args.vit_weights} if args.vit_weights else None,
        train_subset=args.train_subset, augment=not args.no_augment, store=args.store,
        skip_done=args.skip_done))
    if world.is_main and summary.get("skipped"):
        # This command needed no work. Logged here, not in pretraining, where a forgetting
        # run's store lookup is part of a run that works.
        logging.getLogger("pretrain").info("already recorded in %s; skipped",
                                           summary["checkpoint"])
        # Exit code 3 only where -skip_done asked for the skip (a sweep reads it), and never
        # under torchrun, which reports any code but 0 as a failed worker.
        if args.skip_done and world.size == 1:
            return exit_codes.SKIPPED
    elif world.is_main:
        print(f"saved {summary['checkpoint']} (test accuracy {summary['acc_test']:.2f} % "
              f"after {summary['epochs']} epochs)")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
