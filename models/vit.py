"""The published `ViT`: a Hugging Face `ViTModel` and a linear head on the CLS token.

Weights (deviation D24, docs/deviations.md): the published code always downloads
`google/vit-base-patch16-224` (ViT-B/16, ImageNet-21k pre-trained, ImageNet-1k fine-tuned).
Here they come from, in order: `config=` (random init, no files at all: tests, benchmarks, and
building the architecture before loading a fine-tuned checkpoint), `weights=` (a local
directory in Hugging Face format or a hub name), the environment variable
`UNLEARN_VIT_WEIGHTS`, then the hub name. The hub is only contacted when `HF_HUB_OFFLINE` is
unset; with it set, only the local Hugging Face cache is read.

`transformers` is imported inside the functions: it takes seconds to import, and only ViT
needs it. No module of this project is installed as `datasets` (the data sets are
`unlearn.data.datasets`), but a process started in the checkout (the entry points, the tests)
still finds the repository root's `datasets.py` face first, where it shadows Hugging Face's
package. transformers' `ViTModel` path does not import `datasets`, so it never touches that
face (checked by tests/test_models.py); its `is_datasets_available()` may report True there,
because it only looks for a module of that name, but only its Trainer and RAG code act on that.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from unlearn.errors import UsageError

if TYPE_CHECKING:
    from transformers import ViTConfig

HUB_NAME = "google/vit-base-patch16-224"  # the published model's weights
WEIGHTS_ENV = "UNLEARN_VIT_WEIGHTS"  # local directory with the weights (config.json + safetensors)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")  # "name" or "org/name"


def tiny_vit_config(image_size: int = 32, patch_size: int | None = None) -> dict[str, Any]:
    """A small ViT config for tests and benchmarks: hidden 32, 2 layers, 2 heads, MLP 64.

    patch_size defaults to 16 at 224 px (196 patches, like ViT-B/16) and 4 at 32 px (64 patches).
    Returned as a plain dict of `ViTConfig` arguments, so it can sit in a checkpoint's meta.
    """
    if patch_size is None:
        patch_size = 16 if image_size >= 64 else 4
    if image_size % patch_size:
        raise UsageError(
            f"ViT image size {image_size} is not a multiple of patch size {patch_size}"
        )
    return {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": image_size,
        "patch_size": patch_size,
    }


def vit_base_config() -> dict[str, Any]:
    """The architecture of google/vit-base-patch16-224 (ViT-B/16 at 224 px) as ViTConfig
    arguments; `ViT(C, config=vit_base_config())` builds it randomly initialised.

    Use it to rebuild the published ViT before loading a fine-tuned checkpoint, which holds
    every weight, so the pre-trained download is not needed.
    """
    return {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_eps": 1e-12,
        "image_size": 224,
        "patch_size": 16,
        "num_channels": 3,
        "qkv_bias": True,
    }


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _random_base(config: ViTConfig | dict[str, Any]) -> nn.Module:
    from transformers import ViTConfig, ViTModel

    if isinstance(config, dict):
        config = ViTConfig(**config)
    return ViTModel(config)


def _pretrained_base(weights: str | os.PathLike[str] | None) -> nn.Module:
    """Load ViTModel weights from a local directory or a hub name; UsageError if unavailable."""
    from transformers import ViTModel

    source = str(weights) if weights is not None else os.environ.get(WEIGHTS_ENV) or HUB_NAME
    how_to = (
        f"pass a local Hugging Face ViT directory (containing config.json) with -vit_weights DIR "
        f"or the environment variable {WEIGHTS_ENV}=DIR, or save one with "
        f"ViTModel.from_pretrained('{HUB_NAME}').save_pretrained(DIR) on a machine with internet"
    )
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            return ViTModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as err:
            raise UsageError(
                f"ViT weights directory {path} is not a readable Hugging Face ViT model "
                f"({_first_line(err)}); {how_to}"
            ) from err
    if path.exists() or not _HUB_ID.fullmatch(source):
        raise UsageError(f"ViT weights directory not found: {source}; {how_to}")

    offline = _hub_offline()
    try:
        # Offline: read only the local Hugging Face cache, never the network.
        return ViTModel.from_pretrained(source, local_files_only=offline)
    except Exception as err:  # hub, network and cache errors have many types; all: "not available"
        from huggingface_hub.constants import HF_HUB_CACHE

        if offline:
            where = f"the Hugging Face cache {HF_HUB_CACHE} (hub not contacted: HF_HUB_OFFLINE set)"
        else:
            where = f"the Hugging Face cache {HF_HUB_CACHE} or on the hub ({_first_line(err)})"
        raise UsageError(
            f"ViT weights '{source}' are neither a local directory nor found in {where}; {how_to}"
        ) from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


class ViT(nn.Module):
    """`base` = HF ViTModel, `final` = Linear(hidden, C) on `last_hidden_state[:, 0]`.

    The CLS token is read after the encoder's final LayerNorm; the HF pooler exists (so the
    published state-dict keys `base.pooler.*` load) but is not used, as published.
    Attribute names match the published class, so its state-dict files load directly.
    """

    input_size = 224  # pixels of the published model; instances use their config's image_size

    def __init__(
        self,
        num_classes: int,
        *,
        weights: str | os.PathLike[str] | None = None,
        config: ViTConfig | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if weights is not None and config is not None:
            raise UsageError(
                "give the ViT either weights (pre-trained) or config (random init), not both"
            )
        self.base = _random_base(config) if config is not None else _pretrained_base(weights)
        self.input_size = int(self.base.config.image_size)
        self.final = nn.Linear(self.base.config.hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, input_size, input_size] -> logits [B, C]."""
        hidden = self.base(pixel_values=x).last_hidden_state  # [B, 1 + patches, hidden]
        return self.final(hidden[:, 0])

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits [B, C] (identical to `forward`) and every encoder layer's output
        [B, 1 + patches, hidden], for gkt's attention loss.

        The published activation path fed the embedding output to every encoder layer, so its
        logits were not the model's (deviation D17); here each layer gets the previous
        layer's output, read from Hugging Face's `hidden_states` (entry 0 is the embedding).
        """
        outputs = self.base(pixel_values=x, output_hidden_states=True)
        logits = self.final(outputs.last_hidden_state[:, 0])
        return logits, list(outputs.hidden_states[1:])
