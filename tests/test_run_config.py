"""Run settings: the key that decides whether a run is already recorded (resume,
-skip_done), and the automatic evaluation batch."""

import hashlib
import json
from dataclasses import asdict

import torch

from experiment import RunConfig, config_key, evaluation_batch


def config(**changes) -> RunConfig:
    fields = dict(task="full_class", net="CNN", dataset="FashionMNIST", num_classes=10,
                  method="baseline", weight_path="a.pth", forget_class="Sneaker")
    return RunConfig(**(fields | changes))


def key_without(config: RunConfig, sha: str, *dropped: str) -> str:
    """The key re-stated: sha256 of the sorted JSON of the config without `dropped`, the
    checkpoint path replaced by the checkpoint's hash, first 16 hex digits."""
    fields = {k: v for k, v in asdict(config).items() if k not in dropped}
    fields["weight_path"] = sha
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


PLUMBING = ("results_path", "eval_batch_size", "wandb_project", "wandb_name", "gpu", "skip_done")


def test_key_is_the_hash_of_the_result_changing_fields():
    assert config_key(config(), "ab") == key_without(config(), "ab", *PLUMBING, "autocast_bf16")


def test_an_option_added_later_stays_out_of_the_key_while_off():
    # rows recorded before autocast_bf16 existed must still be found by a resumed sweep
    assert config_key(config(autocast_bf16=True), "ab") == key_without(
        config(autocast_bf16=True), "ab", *PLUMBING)
    assert config_key(config(autocast_bf16=True), "ab") != config_key(config(), "ab")


def test_jit_bf16_hyperparameter_stays_out_of_the_key_while_off():
    def jit(**hyper):
        return config(method="lipschitz_forgetting", hyperparameters={"sigma": 0.5, **hyper})

    assert config_key(jit(autocast_bf16=False), "ab") == config_key(jit(), "ab")
    assert config_key(jit(autocast_bf16=True), "ab") != config_key(jit(), "ab")
    # only JiT's option is known to have been added later
    assert config_key(config(hyperparameters={"autocast_bf16": False}), "ab") != config_key(
        config(), "ab")


def test_where_results_go_does_not_change_the_key_but_the_checkpoint_and_seed_do():
    base = config_key(config(), "ab")
    assert config_key(config(results_path="x.jsonl", eval_batch_size=7, skip_done=True),
                      "ab") == base
    assert config_key(config(), "cd") != base
    assert config_key(config(seed=1), "ab") != base


def test_auto_evaluation_batch():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert evaluation_batch(32, cuda) == 512
    assert evaluation_batch(64, cuda) == 128  # the pixels of 512 images at 32 px: 512 · 32² / 64²
    assert evaluation_batch(224, cuda) == 64  # 10 by pixels, raised to the floor of 64
    assert evaluation_batch(32, cpu) == evaluation_batch(224, cpu) == 128
