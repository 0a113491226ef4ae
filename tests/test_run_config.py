"""Run settings: the key that decides whether a run is already recorded (resume,
-skip_done), and the automatic evaluation batch."""

from dataclasses import asdict

import pytest
import torch

from unlearn.run.experiment import RunConfig, config_key, evaluation_batch
from unlearn.store import stable_keys


def config(**changes) -> RunConfig:
    fields = dict(task="full_class", net="CNN", dataset="FashionMNIST", num_classes=10,
                  method="baseline", weight_path="a.pth", forget_class="Sneaker")
    return RunConfig(**(fields | changes))


def jit(**hyper) -> RunConfig:
    return config(method="lipschitz_forgetting", hyperparameters={"sigma": 0.5, **hyper})


# Keys that the version before `autocast_bf16` existed (the parent of commit 050bd93) gave
# these two configs with checkpoint hash "ab": rows it recorded must still be found.
KEY_RECORDED_BEFORE_BF16 = {"baseline": "a01d94466bf7470e", "jit": "5e33a0fd0a5b4124"}


def test_runs_recorded_before_an_option_existed_keep_their_key():
    assert config_key(config(), "ab") == KEY_RECORDED_BEFORE_BF16["baseline"]
    assert config_key(config(autocast_bf16=False), "ab") == KEY_RECORDED_BEFORE_BF16["baseline"]
    assert config_key(jit(), "ab") == KEY_RECORDED_BEFORE_BF16["jit"]
    assert config_key(jit(autocast_bf16=False), "ab") == KEY_RECORDED_BEFORE_BF16["jit"]


# The key the version before -forget_seed existed (the parent of the commit that added it,
# 207e1f8) gave a random-task baseline run of seed 3 forgetting 100 samples, checkpoint "ab".
KEY_RECORDED_BEFORE_FORGET_SEED = "1eab6866141a25be"


def random_run_key(*flags: str) -> str:
    """The run key of `forget_random_main.py ... -seed 3 FLAGS`, as the entry point resolves it."""
    import forget_random_main
    from unlearn.run.cli import build_parser, config_from_args

    args = build_parser("random", 128, 0).parse_args(
        ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-method", "baseline",
         "-weight_path", "a.pth", "-forget_count", "100", "-seed", "3", *flags])
    config = config_from_args("random", args, forget_random_main.wandb_names)
    return config_key(config, "ab")


def test_a_random_run_without_forget_seed_keeps_its_key():
    assert random_run_key() == KEY_RECORDED_BEFORE_FORGET_SEED
    # the default given explicitly is the same run; another forget set is another run
    assert random_run_key("-forget_seed", "3") == KEY_RECORDED_BEFORE_FORGET_SEED
    assert random_run_key("-forget_seed", "0") != KEY_RECORDED_BEFORE_FORGET_SEED


def test_switching_a_later_option_on_gives_a_new_key():
    assert config_key(config(autocast_bf16=True), "ab") != config_key(config(), "ab")
    assert config_key(jit(autocast_bf16=True), "ab") != config_key(jit(), "ab")
    # only JiT's option is known to have been added later: elsewhere any new keyword counts
    assert config_key(config(hyperparameters={"autocast_bf16": False}), "ab") != config_key(
        config(), "ab")


@pytest.mark.parametrize("field, value", [
    ("results_path", "elsewhere.jsonl"), ("eval_batch_size", 7), ("wandb_project", "p"),
    ("wandb_name", "n"), ("gpu", True), ("skip_done", True), ("save_outputs", "outputs/"),
    ("weight_path", "moved/a.pth"),  # the checkpoint's contents count, not where it lies
])
def test_what_does_not_change_the_result_does_not_change_the_key(field, value):
    assert config_key(config(**{field: value}), "ab") == config_key(config(), "ab")


@pytest.mark.parametrize("field, value", [
    ("seed", 1), ("method", "finetune"), ("forget_class", "Bag"), ("batch_size", 64),
    ("net", "VGG16"), ("data_dir", "/other"), ("hyperparameters", {"epochs": 2}),
    ("model_options", {"weights": "vit"}),
])
def test_what_changes_the_result_changes_the_key(field, value):
    assert config_key(config(**{field: value}), "ab") != config_key(config(), "ab")


def test_another_checkpoint_gives_another_key():
    assert config_key(config(), "cd") != config_key(config(), "ab")


def test_auto_evaluation_batch():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert evaluation_batch(32, cuda) == 512
    assert evaluation_batch(64, cuda) == 128  # the pixels of 512 images at 32 px: 512 · 32² / 64²
    assert evaluation_batch(224, cuda) == 64  # 10 by pixels, raised to the floor of 64
    assert evaluation_batch(32, cpu) == evaluation_batch(224, cpu) == 128


def test_rows_recorded_before_methods_declared_their_defaults_keep_their_key():
    # scrub rows used to carry only the batch size; now every resolved hyperparameter
    recorded = config(method="scrub", hyperparameters={"batch_size": 128})
    now = config(method="scrub", hyperparameters={
        "batch_size": 128, "alpha": 0.001, "gamma": 0.99, "clip_grad_norm": 1.0, "epochs": 3,
        "max_steps": 2, "lr": 5e-4, "momentum": 0.9, "weight_decay": 5e-4, "temperature": 4.0})
    assert config_key(now, "ab") == config_key(recorded, "ab")
    changed = config(method="scrub", hyperparameters={**now.hyperparameters, "alpha": 0.5})
    assert config_key(changed, "ab") != config_key(recorded, "ab")
    # the report fills the missing ones in, so both rows read alike
    filled = stable_keys.fill_in_missing(asdict(recorded))
    assert filled["hyperparameters"] == now.hyperparameters


def test_values_recorded_before_stay_in_the_key():
    # gkt on ViT always recorded its batch size: it is not dropped even at the default
    def gkt(**hyper):
        return config(method="gkt", net="ViT", hyperparameters=hyper)

    assert config_key(gkt(batch_size=8), "ab") != config_key(gkt(), "ab")
    assert config_key(gkt(batch_size=8, threshold=0.01), "ab") == config_key(gkt(batch_size=8),
                                                                             "ab")
