"""The results store: atomic appends, concurrent writers, torn lines; wandb never fails a run."""

import logging
import multiprocessing

from unlearn.store import results


def _writer(path, worker, count):
    for i in range(count):
        results.append_row(path, {"worker": worker, "i": i, "pad": "x" * 2000})


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "r.jsonl"
    processes = [multiprocessing.Process(target=_writer, args=(path, w, 50)) for w in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    rows = results.read_rows(path)
    assert len(rows) == 200
    assert {(r["worker"], r["i"]) for r in rows} == {(w, i) for w in range(4) for i in range(50)}


def test_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "r.jsonl"
    results.append_row(path, {"a": 1})
    with open(path, "a") as handle:
        handle.write('{"a": 2, "b":')
    assert results.read_rows(path) == [{"a": 1}]


def test_wandb_mode_defaults_offline_without_account(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert results.wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert results.wandb_mode() == "disabled"


def test_wandb_failure_does_not_raise(monkeypatch, tmp_path, caplog):
    import wandb

    def broken(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(wandb, "init", broken)
    with caplog.at_level(logging.WARNING, logger="unlearn.store.results"):
        results.log_to_wandb("p", "n", {}, {"x": 1.0}, tmp_path)  # returns instead of raising
    assert "wandb logging failed (RuntimeError: no network)" in caplog.text
