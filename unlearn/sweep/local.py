"""The sweep command (`python -m unlearn.sweep`, unlearn/sweep/__main__.py) and its local
process pool: run a grid of command lines as subprocesses, one job per device, resumable,
failure-tolerant.

    python -m unlearn.sweep commands.txt --gpus 0,1,2,3      # one job per GPU at a time
    some_generator | python -m unlearn.sweep --gpus cpu --jobs 2

Each non-empty line (lines starting with # are comments) is one command, split like a POSIX
shell would (no shell runs it). `-skip_done` is appended so an entry point skips a run whose
result is already recorded for the same configuration and checkpoint: starting an interrupted
sweep again reruns only what is missing. A failing job does not stop the others; the summary
lists every failure with its command, last stderr line and log, and the exit code is 1
(130 when interrupted: Ctrl-C or SIGTERM stop the running jobs, which record nothing). Each
job's output goes to its own log file. With -skip_done each run is claimed before it starts
(unlearn/store/claims.py), so two identical sweeps started together do every run once: a run
claimed by the other sweep counts as "claimed elsewhere". A run's exit code says how it ended
(0 done, 3 skipped, 4 claimed elsewhere, any other failed: unlearn/exit_codes.py). The log
folder and every `-results` file of the commands are checked for writing before the first job
starts (unlearn/store/preflight.py).

`--executor slurm` (with `--partition`, `--time`, `--gpus-per-job`, ..., `--pack N`) submits the
same runs as a SLURM job array through submitit instead (unlearn/sweep/cluster.py); every run
inside a job goes through the same `Runner` as here (unlearn/sweep/runner.py), so skipping,
claims, failure records and logs are the same.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TextIO

from unlearn.errors import UsageError
from unlearn.exit_codes import INTERRUPTED, guarded
from unlearn.store import preflight
from unlearn.sweep import cluster
from unlearn.sweep.runner import CPU, Outcome, Pool, Runner, make_jobs, option_value, progress_line


def read_commands(lines: Iterable[str]) -> list[list[str]]:
    """Command lines split into argv lists; blank lines and # comments are skipped."""
    commands = []
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            commands.append(shlex.split(text))
    return commands


def parse_devices(gpus: str | None, jobs: int) -> list[str]:
    """Slots to run on: the listed CUDA devices (one job each), or `jobs` CPU slots."""
    if gpus is None or gpus.strip().lower() in ("", CPU):
        if jobs < 1:
            raise UsageError(f"--jobs must be at least 1, got {jobs}")
        return [CPU] * jobs
    devices = [d.strip() for d in gpus.split(",")]
    if not all(re.fullmatch(r"\d+", d) for d in devices):
        raise UsageError(f"--gpus takes CUDA device indices like 0,1,2,3 or 'cpu', got {gpus!r}")
    return devices


def make_log_dir(root: Path) -> Path:
    folder = root / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_sweep(commands: list[list[str]], devices: list[str], log_root: Path, *,
              skip_done: bool = True, out: TextIO = sys.stdout) -> tuple[list[Outcome], Path]:
    """Run every command, one per device slot at a time; returns outcomes in input order.

    Ctrl-C (or SIGTERM) stops the sweep: running jobs get SIGINT, nothing new starts, and the
    outcomes so far are returned (the rest marked "not run").
    """
    log_dir = make_log_dir(log_root)
    jobs = make_jobs(commands, skip_done)
    runner = Runner(Pool(devices), log_dir, threading.Event())
    outcomes: dict[int, Outcome] = {}
    where = "CPU" if set(devices) == {CPU} else f"GPU {','.join(devices)}"
    print(f"sweep: {len(jobs)} jobs on {where} ({len(devices)} at a time); logs in {log_dir}",
          file=out, flush=True)
    with ThreadPoolExecutor(max_workers=len(devices)) as executor:
        pending = {executor.submit(runner.run, job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcome = future.result()
                    outcomes[outcome.job.index] = outcome
                    print(progress_line(outcome, len(outcomes), len(jobs)), file=out, flush=True)
        except KeyboardInterrupt:
            print("sweep: interrupted; stopping running jobs", file=out, flush=True)
            runner.interrupt()
            for future in pending:
                future.cancel()
            try:
                for future in pending:
                    if not future.cancelled():
                        outcome = future.result()
                        outcomes[outcome.job.index] = outcome
            except KeyboardInterrupt:  # a second Ctrl-C: do not wait for the grace time
                runner.send(signal.SIGKILL)
    ordered = [outcomes.get(job.index, Outcome(job, "not run")) for job in jobs]
    return ordered, log_dir


def summary(outcomes: list[Outcome], seconds: float, log_dir: Path) -> str:
    """Counts per status, then each failure with its command, last stderr line and log."""
    counts = {s: sum(o.status == s for o in outcomes)
              for s in ("done", "skipped", "claimed elsewhere", "failed", "not run")}
    lines = [f"sweep: {len(outcomes)} jobs: {counts['done']} done, {counts['skipped']} skipped "
             f"(already recorded), {counts['failed']} failed"
             + (f", {counts['claimed elsewhere']} run by another sweep"
                if counts["claimed elsewhere"] else "")
             + (f", {counts['not run']} not run" if counts["not run"] else "")
             + f" in {seconds:.1f} s; logs in {log_dir}"]
    if counts["not run"]:
        lines.append("sweep: interrupted; the same command again resumes (recorded runs are "
                     "skipped)")
    failures = [o for o in outcomes if o.status == "failed"]
    if failures:
        lines.append("failed:")
    for outcome in failures:
        code = "not started" if outcome.returncode is None else f"exit {outcome.returncode}"
        lines.append(f"  [{code}] {shlex.join(outcome.job.argv)}")
        lines.append(f"      {outcome.last_error or '(no stderr output)'}")
        lines.append(f"      log: {outcome.log}")
    return "\n".join(lines)


def check_outputs(commands: list[list[str]], log_root: Path) -> None:
    """UsageError unless the log folder and every command's -results file can be written,
    so a sweep with a bad output path stops before its first job instead of failing each."""
    preflight.writable_folder(log_root, "sweep log folder")
    for argv in commands:
        store = option_value(argv, "results")
        if store is not None:
            preflight.writable_file(store, "results file")


# What Ctrl-C before the first job says (once jobs run, the summary says it).
RESUME_HINT = "the same command again resumes (recorded runs are skipped)"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m unlearn.sweep",
        description="Run command lines (one per line) as a resumable sweep over devices.")
    parser.add_argument("commands", nargs="?", default="-",
                        help="file of command lines (default: standard input)")
    parser.add_argument("--gpus", default=None,
                        help="CUDA devices, e.g. 0,1,2,3: one job per device at a time "
                             "(list a device twice for two jobs on it); 'cpu' or none: CPU")
    parser.add_argument("--jobs", type=int, default=1,
                        help="parallel jobs on the CPU (ignored with --gpus)")
    parser.add_argument("--log-dir", default="results/logs",
                        help="folder for per-job logs (a new sweep-* folder per sweep)")
    parser.add_argument("--no-skip-done", dest="skip_done", action="store_false",
                        help="do not append -skip_done (rerun recorded runs too)")
    cluster.add_options(parser)
    return parser


@guarded(resume_hint=RESUME_HINT)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    devices = parse_devices(args.gpus, args.jobs)
    options = cluster.options_from_args(args)
    if options.executor != cluster.LOCAL and (args.gpus is not None or args.jobs != 1):
        raise UsageError("--gpus and --jobs belong to --executor local; with submitit the "
                         "job's resources come from --gpus-per-job and --cpus-per-job")
    if args.commands == "-":
        commands = read_commands(sys.stdin)
    elif Path(args.commands).is_file():
        commands = read_commands(Path(args.commands).read_text().splitlines())
    else:
        raise UsageError(f"command file not found: {args.commands}")
    if not commands:
        raise UsageError("no commands to run")
    return run_and_summarize(commands, devices, Path(args.log_dir), skip_done=args.skip_done,
                             options=options, assume_shared=args.assume_shared)


def run_and_summarize(commands: list[list[str]], devices: list[str], log_root: Path, *,
                      skip_done: bool = True, options=None, assume_shared: bool = False) -> int:
    """Check where the runs write, run the sweep, print its summary; the exit code: 0, 1
    (failures) or 130 (interrupted). An output that cannot be written is a UsageError, before
    any job starts (the commands' guard makes it exit code 2)."""
    check_outputs(commands, log_root)
    if options is not None and options.executor == cluster.SLURM and not assume_shared:
        cluster.check_shared_paths(commands, str(log_root))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # A sweep started in the background of a script (`cmd &`, nohup) inherits SIGINT ignored,
    # and so would its jobs: the SIGINT that stops them would do nothing and each would be
    # killed only after the grace time. A handler here is reset to the default in every job.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.perf_counter()
    if options is None or options.executor == cluster.LOCAL:
        outcomes, log_dir = run_sweep(commands, devices, log_root, skip_done=skip_done)
    else:
        log_dir = make_log_dir(log_root.absolute())
        outcomes = cluster.run_sweep(make_jobs(commands, skip_done), options, log_dir)
    print(summary(outcomes, time.perf_counter() - started, log_dir), flush=True)
    if any(o.status == "not run" for o in outcomes):
        return INTERRUPTED
    return 1 if any(o.status == "failed" for o in outcomes) else 0

