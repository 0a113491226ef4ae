"""What submitting through submitit costs per run: a sweep of trivial commands (`true`) run by
the local process pool against the same sweep through submitit's LocalExecutor in packs (the
code path of `--executor slurm` without the SLURM queue).

    python -m bench.bench_submit                 # 40 runs; packs of 40, 10 and 1
    python -m bench.bench_submit --quick         # 6 runs (tests)

The command does nothing, so every second measured is machinery: per run, the pool's
subprocess and log; per job, submitit pickling the pack, starting a Python process that
imports the tool's sweep code, and the submitter polling for the result. A SLURM queue adds
its own scheduling delay per job on top, which no local measurement can show.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from bench.common import emit, write_json


def timed_sweep(kind: str, runs: int, pack: int, folder: Path) -> float:
    from unlearn.sweep import cluster, local

    commands = [["true", f"run{i}"] for i in range(runs)]
    quiet = io.StringIO()
    started = time.perf_counter()
    if kind == "local":
        outcomes, _ = local.run_sweep(commands, [local.CPU], folder, out=quiet)
    else:
        options = cluster.SubmitOptions(executor="submitit-local", pack=pack)
        outcomes = cluster.run_sweep(local.make_jobs(commands), options,
                                     local.make_log_dir(folder), out=quiet)
    seconds = time.perf_counter() - started
    if any(o.status != "done" for o in outcomes):
        raise SystemExit(f"error: {kind} pack {pack}: not every run finished")
    return seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--packs", default=None, help="runs per job, e.g. 40,10,1")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    runs = 6 if args.quick else args.runs
    packs = ([int(p) for p in args.packs.split(",")] if args.packs
             else [runs, max(1, runs // 4), 1])
    out = {"runs": runs, "local_s": None, "packs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        out["local_s"] = timed_sweep("local", runs, 1, Path(tmp) / "local")
        emit(f"{runs} runs of `true`: local pool {out['local_s']:.2f} s "
             f"({out['local_s'] / runs * 1000:.0f} ms per run)")
        for pack in packs:
            seconds = timed_sweep("submitit", runs, pack, Path(tmp) / f"pack{pack}")
            jobs = -(-runs // pack)
            extra = (seconds - out["local_s"]) / runs
            out["packs"][str(pack)] = {"seconds": seconds, "jobs": jobs,
                                       "overhead_per_run_s": extra}
            emit(f"  submitit-local, pack {pack} ({jobs} job(s)): {seconds:.2f} s, "
                 f"{extra * 1000:+.0f} ms per run over the local pool")
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
