"""Pools of models (checkpoint paths, e.g. from the model store) run over one loader.

Each model costs one inference pass over the loader (the forget set): for the Fashion-MNIST
CNN and a 6,000-image forget class, 2.1 s on one thread of a busy 2-core CPU (measured), so
the default pools of the attacks (4 retrained models for the fit, the "in" pool's shadow
models, held-out retrained ones and the models under test) cost well under a minute;
training the pool is the store's business (see `stored_pool`), never the attack's.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from metrics import predict
from models import build_model
from models.checkpoint import load_checkpoint, load_into
from unlearn.attacks import lira
from unlearn.attacks.confidence import logit_scaled_confidence
from unlearn.attacks.forget_quality import forget_quality
from unlearn.attacks.roc import DEFAULT_FPRS
from unlearn.errors import UsageError
from unlearn.model_store import ModelStore, TrainingRecipe

DEFAULT_POOL = 4  # retrained models per "out" fit (see attacks.lira)


def stored_pool(store: ModelStore, recipes: Sequence[TrainingRecipe], name: str) -> list[Path]:
    """The stored models of `recipes` (e.g. one recipe over several seeds), all of one network
    and dataset; UsageError when any is missing: an attack reads pools, it never trains them
    (scripts/pool.py does)."""
    identities = {(recipe.net, recipe.dataset, recipe.num_classes) for recipe in recipes}
    if len(identities) > 1:
        raise UsageError(f"the {name} mixes networks or datasets: "
                         f"{', '.join(sorted(map(str, identities)))}")
    found = [store.find(recipe) for recipe in recipes]
    missing = [recipe for recipe, path in zip(recipes, found, strict=True) if path is None]
    if missing:
        raise UsageError(f"the {name} lacks {len(missing)} of its {len(recipes)} models in the "
                         f"model store {store.root} (first: {missing[0].describe()}); train "
                         "them first with scripts/pool.py")
    return found


def check_pool(paths: Sequence, need: int, name: str, *, net: str, dataset: str,
               num_classes: int) -> list[Path]:
    """The pool's paths after checking, before any inference, that there are at least `need`
    and that every checkpoint is for this network, dataset and class count (UsageError)."""
    paths = [Path(path) for path in paths]
    if len(paths) < need:
        raise UsageError(f"the {name} has {len(paths)} model(s); the attack needs at least {need}")
    for path in paths:
        load_checkpoint(path, arch=net, num_classes=num_classes, dataset=dataset)
    return paths


def pool_confidences(paths: Sequence, loader: Iterable, device, *, net: str, dataset: str,
                     num_classes: int, model_options: dict | None = None) -> np.ndarray:
    """Logit-scaled confidences [len(paths), n] of every model on every sample of `loader`."""
    rows = []
    for path in paths:
        state, _ = load_checkpoint(path, arch=net, num_classes=num_classes, dataset=dataset)
        model = build_model(net, num_classes, **(model_options or {}))
        load_into(model, state, path)
        logits, labels = predict(model.to(device), loader, device)
        rows.append(logit_scaled_confidence(logits, labels))
        del model, state
    return np.stack(rows) if rows else np.empty((0, 0))


def pool_attacks(*, shadows: Sequence, retrained: Sequence, unlearned: Sequence,
                 loader: Iterable, device: torch.device | str, net: str, dataset: str,
                 num_classes: int, originals: Sequence = (), pool_size: int = DEFAULT_POOL,
                 fprs: Sequence[float] = DEFAULT_FPRS, variance: str = "auto",
                 model_options: dict | None = None) -> dict:
    """The per-example attacks on `loader` (the forget set) from lists of checkpoints.

    shadows: the "in" pool of the published U-LiRA (attacks.lira): originals that trained on
      the forget set and were unlearned by the method under test (not the models under test).
    retrained: the first `pool_size` fit the "out" Gaussians; the rest (at least two) are the
      negatives of the ROC, the null (attacks.lira.null_aucs) and the retrained side of the
      forget-quality score.
    unlearned: the models under test.
    originals (optional): the first `pool_size` fit an original "in" pool, the rest are
      attacked with it: the attack's power (leave the unlearned models' starting point out).
    Returns {'lira': {...}, 'lira_null': [held-out retrains' AUCs], 'power': {...} (with
    originals beyond the pool), 'forget_quality': {...} (when there are at least 3 unlearned
    models and as many held-out retrained ones; N = that count), 'pool': sizes}.
    """
    identity = {"net": net, "dataset": dataset, "num_classes": num_classes}
    if pool_size < lira.MIN_POOL:
        raise UsageError(f"pool size {pool_size}: the likelihood-ratio attack needs at least "
                         f"{lira.MIN_POOL} models per pool")
    shadows = check_pool(shadows, lira.MIN_POOL, "shadow ('in') pool", **identity)
    retrained = check_pool(retrained, pool_size + 2,
                           "retrained pool (the fit plus two held out)", **identity)
    unlearned = check_pool(unlearned, 1, "set of unlearned models", **identity)
    originals = check_pool(originals, 0, "original pool", **identity)

    def confidences(paths):
        return pool_confidences(paths, loader, device, model_options=model_options, **identity)

    in_pool = confidences(shadows)
    out_pool = confidences(retrained[:pool_size])
    heldout = confidences(retrained[pool_size:])
    targets = confidences(unlearned)
    options = {"variance": variance}
    results = {"lira": lira.ulira(targets, heldout, in_pool, out_pool, fprs=fprs, **options),
               "lira_null": lira.null_aucs(heldout, in_pool, out_pool, **options).tolist(),
               "pool": {"in": len(shadows), "out": pool_size, "heldout_retrained": len(heldout),
                        "unlearned": len(targets)}}
    if len(originals) > pool_size:
        results["power"] = lira.ulira(confidences(originals[pool_size:]), heldout,
                                      confidences(originals[:pool_size]), out_pool, fprs=fprs,
                                      **options)
    count = min(len(targets), len(heldout))
    if count >= 3:
        quality = forget_quality(targets[:count], heldout[:count])
        results["forget_quality"] = {"score": quality["score"], "num_models": count}
    return results
