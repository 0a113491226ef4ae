"""Literal re-statements of the published procedures, written for the benchmarks.

Each function follows the published code step by step, slow parts included, so that a benchmark
can compare the tool with what the published code does, in the same process, on the same
device and data:
  (a) JiT: per repetition a deep copy of the batch, noise, clamp, a no-grad forward,
      per-sample norms; `.grad` cleared once before the loop only (or, `clear_grads=True`,
      before every batch: the cleared form the tool uses by default);
  (b) evaluation: one pass per split with the unweighted mean of per-batch
      accuracies, and probabilities for the membership attack collected one image at a time
      over the retain train, test and forget train sets;
  (c) data: a torchvision-style dataset transforming every item
      (PIL image -> ToTensor -> Normalize -> Resize), iterated item by item into Python lists
      per class (get_classwise_ds, build_retain_forget_sets), DataLoaders over the lists.

Two departures, both stated where they happen:
* JiT's noise (noise="shared", the default) comes from the same generator sequence as
  `lipschitz.perturb` (one draw of the batch's shape per repetition, on the device) so
  the tool and this loop can be checked to give the same loss and update. The published code
  drew every repetition on the CPU and copied it to the device (noise="published"), which
  costs more on a GPU: with "shared" this loop is, if anything, faster than the published one.
* The attack is a binary logistic regression: current scikit-learn rejects the published
  `multi_class="multinomial"` (deviation D10, docs/deviations.md), so both sides use the same
  fit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.linear_model import LogisticRegression
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from unlearn.data import datasets

# ---------------------------------------------------------------- (a) JiT


def add_gaussian_noise(x: torch.Tensor, eps: torch.Tensor, sigma: float, clamp: str,
                       valid_range: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """`AddGaussianNoise` on a whole batch x [B, C, H, W]: x + σ·ε, then the clamp.
    clamp "batch" (published): to x.min(), x.max() over the batch; "data_range": channel c to
    the dataset's valid normalised range; "none": unbounded."""
    lo, hi = x.min(), x.max()  # taken before the noise, as published
    noisy = x + eps * sigma
    if clamp == "batch":
        return torch.clamp(noisy, lo, hi)
    if clamp == "data_range":
        channel_lo, channel_hi = (t.to(x).view(-1, 1, 1) for t in valid_range)
        return torch.clamp(noisy, channel_lo, channel_hi)
    return noisy


def literal_jit(model: nn.Module, forget_loader, device: torch.device | str, *, sigma: float,
                eta: float, n_samples: int, generator: torch.Generator, clamp: str = "batch",
                valid_range: tuple[torch.Tensor, torch.Tensor] | None = None,
                clear_grads: bool = False, noise: str = "shared") -> list[float]:
    """`Lipschitz.modify_weight` as published: one pass, one SGD(lr=η) step per batch, the
    loss (1/N) Σ_n Σ_i ‖f(x_i) − f(x̃_{i,n})‖₂ / ‖x_i − x̃_{i,n}‖₂ built one repetition at a time.
    The model's mode is left as the caller set it (published: train mode). Returns the loss of
    every batch. clear_grads=False: `.grad` is cleared once, before the loop (published).
    noise "shared": each repetition drawn from `generator` on the device, as lipschitz.perturb
    draws it; "published": each repetition drawn on the CPU from
    `generator` (a CPU generator) and copied to the device, as the published code does."""
    opt_new = torch.optim.SGD(model.parameters(), lr=eta)  # plain SGD, as published
    opt_new.zero_grad()  # once, before the loop only
    losses = []
    for batch in forget_loader:
        x = batch[0].to(device)
        if clear_grads:
            opt_new.zero_grad()
        out = model(x)  # with grad, reused for all N repetitions
        loss = 0
        for _ in range(n_samples):
            if noise == "shared":  # lipschitz.perturb's draw for this repetition
                step = torch.randn(x.size(), generator=generator, device=x.device, dtype=x.dtype)
            else:  # published: drawn on the CPU, then copied
                step = torch.randn(x.size(), generator=generator).to(x.device)
            x2 = add_gaussian_noise(copy.deepcopy(x), step, sigma, clamp, valid_range)
            with torch.no_grad():
                out2 = model(x2)
            in_norm = torch.linalg.norm(torch.flatten(x, 1) - torch.flatten(x2, 1), dim=1)
            out_norm = torch.linalg.norm(out - out2, dim=1)
            loss += torch.abs(torch.sum(out_norm / in_norm))
        loss /= n_samples
        loss.backward()
        opt_new.step()
        losses.append(loss.item())
    return losses


# ---------------------------------------------------------------- (b) evaluation


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    _, preds = torch.max(outputs, dim=1)
    return torch.tensor(torch.sum(preds == labels).item() / len(preds)) * 100


def validation_step(model: nn.Module, batch, device) -> dict[str, torch.Tensor]:
    images, _, clabels = batch
    images, clabels = images.to(device), clabels.to(device)
    out = model(images)
    loss = F.cross_entropy(out, clabels)
    return {"Loss": loss.detach(), "Acc": accuracy(out, clabels)}


@torch.no_grad()
def evaluate(model: nn.Module, val_loader, device) -> dict[str, float]:
    """`utils.evaluate`: eval mode, mean over batches of the per-batch loss and accuracy."""
    model.eval()
    outputs = [validation_step(model, batch, device) for batch in val_loader]
    epoch_loss = torch.stack([x["Loss"] for x in outputs]).mean()
    epoch_acc = torch.stack([x["Acc"] for x in outputs]).mean()  # unweighted over batches
    return {"Loss": epoch_loss.item(), "Acc": epoch_acc.item()}


def entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return -torch.where(p > 0, p * p.log(), p.new([0.0])).sum(dim=dim)


def collect_prob(data_loader, model: nn.Module) -> torch.Tensor:
    """Softmax outputs over the loader's dataset, re-wrapped with batch size 1."""
    data_loader = DataLoader(data_loader.dataset, batch_size=1, shuffle=False)
    prob = []
    with torch.no_grad():
        for batch in data_loader:
            batch = [tensor.to(next(model.parameters()).device) for tensor in batch]
            data, _, target = batch
            output = model(data)
            prob.append(F.softmax(output, dim=-1).data)
    return torch.cat(prob)


def get_membership_attack_data(retain_loader, forget_loader, test_loader, model):
    retain_prob = collect_prob(retain_loader, model)
    forget_prob = collect_prob(forget_loader, model)
    test_prob = collect_prob(test_loader, model)
    X_r = torch.cat([entropy(retain_prob), entropy(test_prob)]).cpu().numpy().reshape(-1, 1)
    Y_r = np.concatenate([np.ones(len(retain_prob)), np.zeros(len(test_prob))])
    X_f = entropy(forget_prob).cpu().numpy().reshape(-1, 1)
    Y_f = np.concatenate([np.ones(len(forget_prob))])
    return X_f, Y_f, X_r, Y_r


def get_membership_attack_prob(retain_loader, forget_loader, test_loader, model) -> float:
    X_f, _, X_r, Y_r = get_membership_attack_data(retain_loader, forget_loader, test_loader,
                                                  model)
    # Published: multi_class="multinomial", which current scikit-learn rejects (module doc).
    clf = LogisticRegression(class_weight="balanced", solver="lbfgs")
    clf.fit(X_r, Y_r)
    results = clf.predict(X_f)
    return float(results.mean())


def get_metric_scores(model: nn.Module, retain_train_dl, retain_valid_dl, forget_train_dl,
                      forget_valid_dl, valid_dl, device) -> dict[str, float]:
    """The published full-class metric set: TestAcc, RetainTestAcc, MIA, Df."""
    loss_acc_dict = evaluate(model, valid_dl, device)
    retain_acc_dict = evaluate(model, retain_valid_dl, device)
    mia = get_membership_attack_prob(retain_train_dl, forget_train_dl, valid_dl, model)
    d_f = evaluate(model, forget_valid_dl, device)
    return {"TestAcc": loss_acc_dict["Acc"], "RetainTestAcc": retain_acc_dict["Acc"],
            "Df": d_f["Acc"], "MIA": mia}


# ---------------------------------------------------------------- (c) data


class PublishedImageDataset(Dataset):
    """A torchvision-style image dataset: `data` uint8 [N, H, W, 3] (numpy), int `targets`;
    each item goes through PIL and the transform when read, and is returned as the published
    classes return it: (x, torch.Tensor([]), label)."""

    def __init__(self, data: np.ndarray, targets: list[int], transform: transforms.Compose):
        self.data, self.targets, self.transform = data, targets, transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img, target = self.data[index], self.targets[index]
        img = Image.fromarray(img)
        img = self.transform(img)
        return img, torch.Tensor([]), target


def published_transform(mean, std, image_size: int) -> transforms.Compose:
    """`transform_unlearning` / `transform_test` plus the appended Resize (published order)."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std),
                               transforms.Resize(image_size)])


def published_dataset(name: str, train: bool, data_dir: str | None, image_size: int,
                      limit: int | None = None) -> PublishedImageDataset:
    """The published dataset object for `name` (decoded by the same readers as the tool; a
    torchvision dataset decodes its files the same way). limit: only the first `limit` items."""
    spec = datasets.DATASETS[name]
    decoded = spec.load(train, data_dir, 0)  # uint8 [N, 3, H, W], not the tool's cache
    images, labels = decoded.images, decoded.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    data = images.permute(0, 2, 3, 1).numpy()  # HWC, as torchvision's CIFAR keeps `data`
    return PublishedImageDataset(data, labels.tolist(),
                                 published_transform(spec.mean, spec.std, image_size))


def get_classwise_ds(ds, num_classes: int) -> dict[int, list]:
    """Every item of `ds`, transformed, bucketed by its third element (the class label)."""
    classwise_ds = {}
    for i in range(num_classes):
        classwise_ds[i] = []
    for img, label, clabel in ds:
        classwise_ds[clabel].append((img, label, clabel))
    return classwise_ds


def build_retain_forget_sets(classwise_train, classwise_test, num_classes: int,
                             forget_class: int):
    forget_data_test, retain_data_test = [], []
    for cls in range(num_classes):
        for img, label, clabel in classwise_test[cls]:
            if clabel == forget_class:
                forget_data_test.append((img, label, clabel))
            else:
                retain_data_test.append((img, label, clabel))
    forget_data_train, retain_data_train = [], []
    for cls in range(num_classes):
        for img, label, clabel in classwise_train[cls]:
            if clabel == forget_class:
                forget_data_train.append((img, label, clabel))
            else:
                retain_data_train.append((img, label, clabel))
    return forget_data_train, retain_data_train, forget_data_test, retain_data_test


@dataclass
class PublishedData:
    """The loaders the published full-class main hands to a strategy."""

    trainset: PublishedImageDataset
    validset: PublishedImageDataset
    full_train_dl: DataLoader
    valid_dl: DataLoader  # the whole test set, transformed per item on every pass
    forget_train_dl: DataLoader
    retain_train_dl: DataLoader
    forget_valid_dl: DataLoader
    retain_valid_dl: DataLoader
    batch_stats: tuple[float, float, float]  # min, max, mean of one shuffled batch (printed)


def published_data(name: str, num_classes: int, forget_class: int, data_dir: str | None,
                   image_size: int, batch_size: int = 128, limit_train: int | None = None,
                   limit_test: int | None = None) -> PublishedData:
    """Steps 4-7 of the published full-class main, in order."""
    trainset = published_dataset(name, True, data_dir, image_size, limit_train)
    validset = published_dataset(name, False, data_dir, image_size, limit_test)
    trainloader = DataLoader(trainset, batch_size=batch_size, shuffle=True)
    x = next(iter(trainloader))[0]  # published: prints min/max/mean of one batch
    batch_stats = (x.min().item(), x.max().item(), x.mean().item())
    full_train_dl = DataLoader(copy.deepcopy(trainset), batch_size=batch_size, shuffle=True)
    validloader = DataLoader(validset, batch_size=batch_size, shuffle=False)
    classwise_train = get_classwise_ds(trainset, num_classes)
    classwise_test = get_classwise_ds(validset, num_classes)
    forget_train, retain_train, forget_valid, retain_valid = build_retain_forget_sets(
        classwise_train, classwise_test, num_classes, forget_class)
    return PublishedData(
        trainset=trainset, validset=validset, full_train_dl=full_train_dl,
        valid_dl=validloader,
        forget_train_dl=DataLoader(forget_train, batch_size),
        retain_train_dl=DataLoader(retain_train, batch_size, shuffle=True),
        forget_valid_dl=DataLoader(forget_valid, batch_size),
        retain_valid_dl=DataLoader(retain_valid, batch_size),
        batch_stats=batch_stats,
    )


def metric_scores(model: nn.Module, data: PublishedData, device) -> dict[str, float]:
    """get_metric_scores over the loaders of `published_data`."""
    return get_metric_scores(model, data.retain_train_dl, data.retain_valid_dl,
                             data.forget_train_dl, data.forget_valid_dl, data.valid_dl, device)
