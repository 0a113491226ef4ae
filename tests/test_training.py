"""The published pretraining schedule and the training loop's resume."""

import torch
from torch import nn

from unlearn.train.training import (
    TrainSettings,
    constant_schedule,
    published_pretrain_schedule,
    train,
)


def test_schedule_matches_torch_onecycle_after_warmup():
    steps_per_epoch, epochs = 10, 20
    total = steps_per_epoch * epochs
    ours = published_pretrain_schedule(total, steps_per_epoch, warm_epochs=1)
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.1)
    onecycle = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.1, total_steps=total, anneal_strategy="cos")
    for step in range(total):
        if step >= steps_per_epoch:
            assert abs(ours(step) - optimizer.param_groups[0]["lr"]) < 1e-9, step
        optimizer.step()
        onecycle.step()


def test_schedule_first_epoch_is_linear_ramp_to_0_004():
    lr = published_pretrain_schedule(1000, 50, warm_epochs=1)
    assert lr(0) == 0.0
    assert abs(lr(25) - 0.002) < 1e-12
    assert abs(lr(49) - 0.004 * 49 / 50) < 1e-12
    peak = max(lr(step) for step in range(1000))
    assert abs(peak - 0.1) < 1e-3
    assert lr(999) < 1e-5


class ListLoader:
    """A minimal loader with per-epoch shuffling, like datasets.BatchLoader."""

    def __init__(self, x, y, batch):
        self.x, self.y, self.batch, self.epoch = x, y, batch, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return (len(self.x) + self.batch - 1) // self.batch

    def __iter__(self):
        order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.epoch))
        for start in range(0, len(order), self.batch):
            index = order[start:start + self.batch]
            yield self.x[index], self.y[index]


def _problem():
    torch.manual_seed(0)
    x = torch.randn(40, 5)
    y = (x[:, 0] > 0).long()
    return ListLoader(x, y, 8)


def _model():
    torch.manual_seed(1)
    return nn.Linear(5, 2)


def test_training_lowers_loss():
    loader = _problem()
    model = _model()
    summary = train(model, loader, torch.device("cpu"),
                    TrainSettings(epochs=5, schedule=constant_schedule(0.1)))
    losses = [record["train_loss"] for record in summary["history"]]
    assert losses[-1] < losses[0]


def test_resume_continues_exactly(tmp_path):
    meta = {"arch": "linear", "num_classes": 2, "dataset": "toy"}
    straight = _model()
    train(straight, _problem(), torch.device("cpu"),
          TrainSettings(epochs=4, schedule=constant_schedule(0.1)))

    path = tmp_path / "ckpt.pth"
    interrupted = _model()
    train(interrupted, _problem(), torch.device("cpu"), TrainSettings(
        epochs=2, schedule=constant_schedule(0.1), checkpoint_path=path, checkpoint_meta=meta))
    resumed = _model()
    summary = train(resumed, _problem(), torch.device("cpu"), TrainSettings(
        epochs=4, schedule=constant_schedule(0.1), checkpoint_path=path, checkpoint_meta=meta,
        resume=True))
    assert [r["epoch"] for r in summary["history"]] == [1, 2, 3, 4]
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_test_accuracy_is_measured_every_n_epochs_and_after_the_last():
    torch.manual_seed(0)
    loader = ListLoader(torch.randn(8, 4), torch.randint(0, 2, (8,)), batch=4)
    measured = []
    summary = train(nn.Linear(4, 2), loader, torch.device("cpu"),
                    TrainSettings(epochs=5, schedule=constant_schedule(0.1), evaluate_every=2),
                    evaluate_epoch=lambda model: measured.append(1) or 50.0)
    assert [("acc_test" in record) for record in summary["history"]] == \
        [False, True, False, True, True]
    assert len(measured) == 3


def test_a_diverged_training_raises_and_saves_nothing_past_the_last_finite_epoch(tmp_path):
    """A learning rate of 1e30 makes the loss infinite in the second epoch: the training stops
    there with one sentence, and the checkpoint on disk holds the first epoch only."""
    import pytest

    from models.checkpoint import load_checkpoint
    from unlearn.errors import TrainingDivergedError

    path = tmp_path / "ckpt.pth"
    meta = {"arch": "linear", "num_classes": 2, "dataset": "toy"}
    with pytest.raises(TrainingDivergedError, match=r"epoch 2/5; the training diverged"):
        train(_model(), _problem(), torch.device("cpu"), TrainSettings(
            epochs=5, schedule=lambda step: 0.1 if step < 5 else 1e30, checkpoint_path=path,
            checkpoint_meta=meta))
    _, saved = load_checkpoint(path)
    assert [r["epoch"] for r in saved["history"]] == [1]
