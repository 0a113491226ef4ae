"""Pools of models (checkpoint paths, e.g. from the model store) run over one loader; the
per-example attacks of a study (unlearn/report/per_example_attacks.py) read their pools through
here.

Each model costs one inference pass over the loader (the forget set): for the Fashion-MNIST
CNN and a 6,000-image forget class, 2.1 s on one thread of a busy 2-core CPU (measured), so
the pools of the attacks (retrained models for the fit, the "in" pool's shadow models,
held-out retrained ones and the models under test) cost well under a minute; training the
pool is the store's business (see `stored_pool`), never the attack's.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from models import build_model
from models.checkpoint import load_checkpoint, load_into
from unlearn.errors import UsageError
from unlearn.eval.attacks.confidence import logit_scaled_confidence
from unlearn.eval.metrics import predict
from unlearn.store.model_store import ModelStore, TrainingRecipe


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
