"""Self-describing checkpoints: weights plus what they were trained for (deviation D23,
docs/deviations.md).

File format "unlearn-checkpoint-v1", written with `torch.save`:
    {"format": "unlearn-checkpoint-v1", "state_dict": {name: Tensor}, "meta": {...},
     "extra": {...}}
`meta` holds at least `arch` (a MODELS name), `num_classes` and `dataset` (a DATASETS name),
plus whatever the caller adds (training config, test accuracy, epoch, ...). `extra` holds bulky
state that describes nothing, such as the optimizer's state for resuming; it is returned only
on request, so `meta` stays small enough to print.

Files are read with `torch.load(weights_only=True)`, which refuses arbitrary pickled objects,
so `meta` and `extra` may hold only plain types: None, bool, int, float, str, tensors, and
lists, tuples and dicts of these. An optimizer's `state_dict()` qualifies; a dataclass, a
Path, a ViTConfig or a numpy number does not (convert with `dataclasses.asdict`, `str`,
`.to_dict()`, `float` first). `save_checkpoint` checks this before writing anything.

The published code saves a bare `model.state_dict()`; such files load too,
with meta `{"format": "bare-state-dict"}` and only a check of the final layer's width.

Content check: the file also holds "weights_sha256", a digest of the weights computed when it
was written, and every load recomputes it, so a file whose weights were changed afterwards (a
flipped byte still makes a readable archive) is refused instead of used. The cost is one
SHA-256 pass over the weights per load (bench/bench_checkpoint_digest.py). Files written before
the digest existed (and bare state dicts) have none: they load as before, unverified.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unlearn.errors import UsageError, WriteFailedError

FORMAT = "unlearn-checkpoint-v1"
BARE_FORMAT = "bare-state-dict"  # meta["format"] for files written by the published code
REQUIRED_META = ("arch", "num_classes", "dataset")
# Exact types: subclasses such as numpy.float64 (a float) pickle as numpy objects, which
# weights_only loading refuses.
_PLAIN_SCALARS = (type(None), bool, int, float, str)

PathArg = str | os.PathLike[str]


def save_checkpoint(
    path: PathArg,
    model: nn.Module,
    meta: Mapping[str, Any],
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write model weights, `meta` and `extra` to `path` atomically (temp file in the same
    folder, then os.replace), creating parent folders; a crash never leaves a half-written
    file at `path`. ValueError/TypeError (programming errors) for incomplete or non-plain meta."""
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise ValueError(f"checkpoint meta lacks {', '.join(missing)}")
    _check_plain(dict(meta), "meta")
    _check_plain(dict(extra or {}), "extra")
    state_dict = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "state_dict": state_dict,
        "weights_sha256": weights_digest(state_dict),
        "meta": dict(meta),
        "extra": dict(extra or {}),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes it 0600; use normal permissions
        os.replace(tmp_name, target)
    except BaseException as error:
        Path(tmp_name).unlink(missing_ok=True)
        if _write_failed(error):
            raise WriteFailedError(f"checkpoint {target} was not written ({_short(error)}); "
                                   "the file is as it was before") from error
        raise


def _write_failed(error: BaseException) -> bool:
    """A failed write of the file (a full disk, a quota, an I/O error): torch.save reports one
    as a RuntimeError of its zip writer, the flush, fsync and rename as an OSError."""
    return isinstance(error, OSError) or (isinstance(error, RuntimeError)
                                          and "write failed" in str(error))


def load_checkpoint(
    path: PathArg,
    *,
    arch: str | None = None,
    num_classes: int | None = None,
    dataset: str | None = None,
    with_extra: bool = False,
    verify: bool = True,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | tuple[dict, dict, dict]:
    """Read a checkpoint onto the CPU and check it against what the command asks for.

    Returns (state_dict, meta), or (state_dict, meta, extra) with `with_extra`. Raises
    UsageError when the file is missing or unreadable, when its weights do not match the
    digest recorded with them (`verify`; off only to measure what the check costs), or when
    its recorded arch / num_classes / dataset differ from the given ones (None = no check).
    """
    source = Path(path)
    if not source.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        content = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and weights-only errors all mean "not a checkpoint"
        raise UsageError(
            f"checkpoint {path} is not a readable PyTorch checkpoint ({_short(err)})"
        ) from err
    if not isinstance(content, dict):
        raise UsageError(
            f"checkpoint {path} is not a readable PyTorch checkpoint "
            f"(it holds a {type(content).__name__}, not a dict)"
        )

    if content.get("format") == FORMAT:
        state_dict, meta = content.get("state_dict"), content.get("meta")
        if not isinstance(state_dict, dict) or not isinstance(meta, dict):
            raise UsageError(
                f"checkpoint {path} is not a readable PyTorch checkpoint "
                "(state_dict or meta missing)"
            )
        if verify:
            _check_digest(path, state_dict, content.get("weights_sha256"))
        _check_meta(path, meta, arch=arch, num_classes=num_classes, dataset=dataset)
        extra = content.get("extra") or {}
        return (state_dict, meta, extra) if with_extra else (state_dict, meta)

    if isinstance(content.get("format"), str):
        raise UsageError(
            f"checkpoint {path} has format {content['format']!r}; this version reads {FORMAT!r}"
        )
    if not content or not all(isinstance(value, torch.Tensor) for value in content.values()):
        raise UsageError(
            f"checkpoint {path} is not a readable PyTorch checkpoint "
            f"(neither {FORMAT} nor a bare state dict of tensors)"
        )
    if num_classes is not None:
        _check_head_width(path, content, num_classes)
    meta = {"format": BARE_FORMAT}
    return (dict(content), meta, {}) if with_extra else (dict(content), meta)


def load_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: PathArg) -> None:
    """Load `state_dict` into `model` strictly; a key or shape mismatch becomes a UsageError
    that names the first few offending keys (path only names the file in the message)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    reshaped = [
        f"{key} {list(state_dict[key].shape)} vs {list(expected[key].shape)}"
        for key in expected
        if key in state_dict and state_dict[key].shape != expected[key].shape
    ]
    problems = []
    for label, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches (checkpoint vs model)", reshaped),
    ):
        if keys:
            shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
            problems.append(f"{len(keys)} {label} ({shown})")
    if problems:
        raise UsageError(
            f"checkpoint {path} does not fit the {type(model).__name__} model: "
            + "; ".join(problems)
        )
    model.load_state_dict(state_dict, strict=True)


def file_sha256(path: PathArg) -> str:
    """Hex SHA-256 of a file's bytes (recorded with every result to identify the checkpoint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of the weights: every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _check_digest(path: PathArg, state_dict: dict, recorded: str | None) -> None:
    """UsageError when the weights are not those written; no digest recorded (a file from
    before digests existed) passes unverified."""
    if recorded is None:
        return
    if weights_digest(state_dict) != recorded:
        raise UsageError(
            f"checkpoint {path} was changed after it was written (its weights do not match the "
            "digest recorded with them); delete it and train it again with the command that "
            "wrote it (for a model store's file, the same pretrain_model.py -store or "
            "scripts/pool.py command retrains it)"
        )


def _check_meta(path: PathArg, meta: dict[str, Any], **asked: Any) -> None:
    """UsageError naming every field where the checkpoint's meta and the command disagree."""
    differing = [
        key
        for key, value in asked.items()
        if value is not None and key in meta and str(meta[key]) != str(value)
    ]
    if not differing:
        return
    have = _describe(meta.get("arch"), meta.get("num_classes"), meta.get("dataset"))
    want = _describe(asked["arch"], asked["num_classes"], asked["dataset"])
    raise UsageError(
        f"checkpoint {path} was trained for {have}, but the command asks for {want} "
        f"(differs in: {', '.join(differing)})"
    )


def _describe(arch: Any, num_classes: Any, dataset: Any) -> str:
    """e.g. "dataset Cifar10 with 10 classes (arch VGG16)"; unknown parts are left out."""
    parts = []
    if dataset is not None:
        parts.append(f"dataset {dataset}")
    if num_classes is not None:
        parts.append(f"{'with ' if parts else ''}{num_classes} classes")
    text = " ".join(parts)
    if arch is not None:
        text = f"{text} (arch {arch})" if text else f"arch {arch}"
    return text


def _check_head_width(path: PathArg, state_dict: dict[str, torch.Tensor], num_classes: int) -> None:
    """Best-effort check of a bare state dict: the final layer's output rows must equal C."""
    head = next((key for key in ("fc.weight", "final.weight") if key in state_dict), None)
    if head is None:
        matrices = [
            key for key, value in state_dict.items() if key.endswith("weight") and value.dim() == 2
        ]
        if not matrices:
            return
        head = matrices[-1]
    rows = state_dict[head].shape[0]
    if rows != num_classes:
        raise UsageError(
            f"checkpoint {path} has a final layer with {rows} outputs ({head}), "
            f"but the command asks for {num_classes} classes"
        )


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; restore at once
    os.umask(mask)
    return mask


def _check_plain(value: Any, where: str) -> None:
    """TypeError if `value` holds anything torch.load(weights_only=True) would refuse."""
    if type(value) in _PLAIN_SCALARS or isinstance(value, torch.Tensor):
        return
    if type(value) in (list, tuple):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, dict) and type(value) in (dict, OrderedDict):
        for key, item in value.items():
            _check_plain(key, f"{where} key {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"checkpoint {where} is a {type(value).__name__}; only plain types can be stored"
    )


def _short(err: BaseException) -> str:
    """The informative part of a torch.load error, on one line (torch's own text is a page)."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:  # keep only the cause, e.g. "Unsupported operand 103" for random bytes
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    detail = _whole_sentences(lines[0]) if lines else ""
    return f"{type(err).__name__}: {detail}" if detail else type(err).__name__


def _whole_sentences(text: str, limit: int = 160) -> str:
    """The leading sentences of `text` that fit in `limit` characters (at least the first one
    whole), so a long torch message is shortened without being cut mid-sentence."""
    sentences = [part for part in re.split(r"(?<=\.)\s+", text) if part]
    kept = sentences[:1]
    for sentence in sentences[1:]:
        if len(" ".join(kept + [sentence])) > limit:
            break
        kept.append(sentence)
    return " ".join(kept)
