"""The model store: every trained model (original, retrained, shadow) kept once, by recipe.

A model is a pure function of its training recipe (network, data, what was left out, seed,
schedule, the version of the training code), so the recipe's hash names the file. Every
method, task, attack and rerun that needs "the CNN trained on Fashion-MNIST without Shirt,
seed 1001" reads the same file; it is trained only the first time anyone asks.

Layout: ROOT/<net>-<dataset>/<key>.pth, a normal self-describing checkpoint whose metadata
holds the recipe under "recipe". A training in progress writes <key>.partial.pth (resumable
epoch by epoch) and holds <key>.lock; the finished file appears by an atomic rename, so a
reader sees a complete model or none. Point ROOT at a shared filesystem and several machines
share one store: the first writer trains, the others wait for its file (or take over a lock
whose holder stopped).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from unlearn.errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_ROOT = "checkpoints/store"
ROOT_ENV = "UNLEARN_STORE"
# Bump when a change to the training loop, the schedule, the loader or the augmentation changes
# the weights a recipe produces: every stored model then counts as a different recipe.
TRAINING_CODE = 1
HEARTBEAT_S = 20.0  # a lock holder touches its lock this often
STALE_AFTER_S = 300.0  # a lock untouched this long belongs to a holder that stopped
POLL_S = 2.0  # how often a waiting writer looks again
WAIT_REPORT_S = 60.0  # how often a waiting writer says who holds the lock


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that determines a trained model's weights."""

    net: str  # a MODELS key
    dataset: str  # a DATASETS key
    num_classes: int  # outputs
    seed: int  # pretraining seed: the pool member
    epochs: int  # training epochs
    batch_size: int  # training batch
    warm: int  # warm-up epochs of the schedule
    left_out: str | None = None  # None: the original; "class Shirt" / "sub-class rocket": retrain
    train_subset: int | None = None  # train on a fixed seeded subset of this many images
    augment: bool = True  # crop/flip/rotation augmentation during training
    model_options: str = "{}"  # JSON of the network's build options (e.g. ViT weights)
    training_code: int = TRAINING_CODE

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def describe(self) -> str:
        what = f"without {self.left_out}" if self.left_out else "original"
        subset = f", {self.train_subset} images" if self.train_subset else ""
        return f"{self.net} on {self.dataset}{subset}, {what}, seed {self.seed}"


def retrain_seed(index: int) -> int:
    """Seed of the index-th retrained model of a forget set, distinct from every original seed
    below 1000. A retrain never saw the original model (same data, same recipe, the forget set
    left out), so the K retrains of a forget set are the gold standard of every original
    model's cell for that forget set: they are trained once per forget set, not per original."""
    if index < 0:
        raise UsageError(f"retrain index must be at least 0, got {index}")
    return 1000 + index


def store_root(option: str | None) -> Path:
    """The store's folder: the -store option, else $UNLEARN_STORE, else checkpoints/store."""
    return Path(option or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


class ModelStore:
    """Trained models by recipe, under one folder (local or shared)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path_for(self, recipe: TrainingRecipe) -> Path:
        return self.root / f"{recipe.net}-{recipe.dataset}" / f"{recipe.key()}.pth"

    def check_writable(self) -> None:
        """Fail now, not after a training, when models could not be written here."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise UsageError(f"model store {self.root} cannot be written "
                             f"({error.strerror or error})") from error

    def find(self, recipe: TrainingRecipe) -> Path | None:
        """The stored model of `recipe`, checked to be what its name says; None if absent."""
        path = self.path_for(recipe)
        if not path.is_file():
            return None
        recorded = read_recipe(path)
        if recorded != asdict(recipe):
            raise UsageError(f"stored model {path} records another recipe than its key "
                             f"(differs in {', '.join(_differences(recorded, asdict(recipe)))}); "
                             "move it away and train again")
        return path

    def ensure(self, recipe: TrainingRecipe, train: Callable[[Path], None]) -> Path:
        """The stored model of `recipe`, trained by `train(partial_path)` if nobody has yet.

        `train` writes (and resumes) its checkpoint at the partial path; it is renamed into
        place once `train` returns. Concurrent callers for one recipe: one trains, the others
        wait for the file.
        """
        reported = -math.inf
        while True:
            found = self.find(recipe)
            if found is not None:
                log.info("model store hit: %s -> %s", recipe.describe(), found)
                return found
            lock = _Lock(self.path_for(recipe).with_suffix(".lock"))
            if lock.acquire():
                try:
                    found = self.find(recipe)  # finished while we were taking the lock
                    if found is not None:
                        return found
                    return self._train(recipe, train, lock)
                finally:
                    lock.release()
            if time.monotonic() - reported >= WAIT_REPORT_S:
                log.info("model store: %s is being trained elsewhere; waiting. %s",
                         recipe.describe(), lock.describe_holder())
                reported = time.monotonic()
            time.sleep(POLL_S)

    def _train(self, recipe: TrainingRecipe, train: Callable[[Path], None], lock) -> Path:
        final = self.path_for(recipe)
        partial = final.with_suffix(".partial.pth")
        _set_aside_if_foreign(partial, recipe)
        log.info("model store miss: training %s -> %s", recipe.describe(), final)
        with lock.heartbeat():
            train(partial)
        if read_recipe(partial) != asdict(recipe):
            raise RuntimeError(f"training wrote {partial} without the recipe it was asked for")
        os.replace(partial, final)
        return final


def read_recipe(path: Path) -> dict | None:
    """The recipe recorded in a stored checkpoint's metadata (None if it has none)."""
    from models.checkpoint import load_checkpoint  # torch only when a file is read

    _, meta = load_checkpoint(path)
    return meta.get("recipe")


def _set_aside_if_foreign(partial: Path, recipe: TrainingRecipe) -> None:
    """A partial training is resumed only by its own recipe. One that records another (left
    under this key by hand or by a bug) or none, or that cannot be read, would be finished
    into the store under the wrong key: it is moved aside, with a warning, and never resumed."""
    if not partial.exists():
        return
    try:
        recorded = read_recipe(partial)
        why = f"another recipe (differs in {', '.join(_differences(recorded, asdict(recipe)))})"
    except UsageError as error:
        recorded, why = None, f"an unreadable training ({error})"
    if recorded == asdict(recipe):
        return
    aside = partial.with_name(f"{partial.name}.foreign-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(partial, aside)
    log.warning("model store: %s held %s; moved aside to %s, and %s is trained from the "
                "start", partial, why, aside, recipe.describe())


def _differences(recorded: dict | None, expected: dict) -> list[str]:
    if not isinstance(recorded, dict):
        return ["everything (no recipe recorded)"]
    return sorted(k for k in expected if recorded.get(k) != expected[k]) or ["extra fields"]


class _Lock:
    """An exclusive lock file (O_EXCL create works on local and NFS v3+ filesystems) holding its
    owner as JSON (host, pid, start, last heartbeat), kept fresh by a heartbeat. A lock not
    touched for STALE_AFTER_S (whatever it holds, so one that cannot be read too), or whose
    holder process on this machine is gone, is taken over."""

    def __init__(self, path: Path):
        self.path = path
        self._stop = threading.Event()
        self._owner: dict = {}

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._expire_if_stale()
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        now = time.time()
        self._owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": now,
                       "heartbeat": now}
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(self._owner) + "\n")
        return True

    def release(self) -> None:
        self._stop.set()
        self.path.unlink(missing_ok=True)

    def owner(self) -> dict | None:
        """The holder the lock names; None when it names none that can be read."""
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        fields = ("host", "pid", "started", "heartbeat")
        return owner if isinstance(owner, dict) and all(k in owner for k in fields) else None

    def describe_holder(self) -> str:
        """Who holds the lock, since when, and how to clear it: what a waiter is told."""
        clear = f"if no such training runs, clear it with: rm {self.path}"
        if self.owner() is None:
            return (f"Its lock {self.path} names no holder that can be read; it is taken over "
                    f"{STALE_AFTER_S:.0f} s after it was last touched, or {clear}")
        return (f"Holder: {self.holder()}; the lock is taken over {STALE_AFTER_S:.0f} s after "
                f"the last heartbeat, or {clear}")

    def holder(self) -> str:
        """'host pid N, since ..., last heartbeat ...', or that the lock names none."""
        owner = self.owner()
        if owner is None:
            return "none that can be read"
        return (f"{owner['host']} pid {owner['pid']}, since {_clock(owner['started'])}, "
                f"last heartbeat {_clock(owner['heartbeat'])}")

    @contextlib.contextmanager
    def heartbeat(self):
        """Keep the lock fresh while the body runs (a long training)."""
        thread = threading.Thread(target=self._beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if self.owner() != self._owner:
                return  # taken over (this holder was thought stopped): never write over it
            self._owner = {**self._owner, "heartbeat": time.time()}
            fresh = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            try:
                fresh.write_text(json.dumps(self._owner) + "\n")
                os.replace(fresh, self.path)  # whole: a reader never sees half an owner
            except OSError:
                fresh.unlink(missing_ok=True)
                return

    def _expire_if_stale(self) -> None:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if age > STALE_AFTER_S or self._holder_died_here():
            log.warning("model store: taking over %s (untouched for %.0f s, or its holder's "
                        "process is gone; holder: %s)", self.path, age, self.holder())
            self.path.unlink(missing_ok=True)

    def _holder_died_here(self) -> bool:
        """The holder ran on this machine and its process is gone (killed, not interrupted:
        an interrupted training releases its lock)."""
        owner = self.owner()
        if owner is None or owner["host"] != socket.gethostname():
            return False
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError, TypeError, OverflowError):
            return False
        return False


def _clock(stamp) -> str:
    """A lock's time as local date and time (a holder's clock; shown, never compared)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(stamp)))
    except (TypeError, ValueError, OverflowError, OSError):
        return repr(stamp)
