"""Sweeps and model-pool trainings on SLURM through submitit (or submitit's local executors).

    python -m unlearn.sweep grid.txt --executor slurm --partition gpu --time 60 --gpus-per-job 1 \
        --cpus-per-job 8 --mem-gb 32 --pack 20

The grid becomes one SLURM job array; each array task runs `--pack N` consecutive command lines
one after the other (a JiT run takes seconds, a SLURM job takes longer than that to schedule).
Inside a job every command goes through the same per-run code as a local sweep
(`runner.Runner`): `-skip_done` is appended, the output goes to its own log under the sweep's
log folder, a failure is recorded by the entry point and the pack goes on. The submitting
process waits, prints one progress line per run and the local sweep's summary. Ctrl-C there
cancels the jobs still queued or running; the same command again resumes (recorded runs are
skipped).

`submitit-local` runs the same code path with submitit's LocalExecutor (one process per job on
this machine) and `submitit-debug` with its DebugExecutor (in this process); tests use them.
`submit_calls` is the generic part: any picklable function, one job per argument tuple (the
tuner submits its trial workers through it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from unlearn import REPO_ROOT
from unlearn.errors import UsageError
from unlearn.sweep.runner import INHERIT, Outcome, Pool, Runner, progress_line

ROOT = REPO_ROOT
LOCAL = "local"  # unlearn/sweep/local.py's own process pool (no submitit)
SLURM = "slurm"
EXECUTORS = (LOCAL, SLURM, "submitit-local", "submitit-debug")
SUBMITIT_CLUSTERS = {SLURM: "slurm", "submitit-local": "local", "submitit-debug": "debug"}
# Jobs of the local executors must not be killed by submitit's default 5-minute limit.
LOCAL_TIMEOUT_MIN = 7 * 24 * 60

# Options that only mean something to SLURM: dest -> spelling (for the error message).
SLURM_ONLY = {"partition": "--partition", "time": "--time", "gpus_per_job": "--gpus-per-job",
              "cpus_per_job": "--cpus-per-job", "mem_gb": "--mem-gb", "account": "--account",
              "qos": "--qos", "constraint": "--constraint",
              "array_parallelism": "--array-parallelism", "slurm_option": "--slurm-option"}

# Flags of the entry points whose values are paths every node must see.
PATH_FLAGS = ("store", "results", "weight_path", "retrain_path", "out", "data_dir")
STORE_ENV = "UNLEARN_STORE"

# Where a path is node-local for certain: the usual temporary folders, and RAM file systems.
NODE_LOCAL_ROOTS = ("/tmp", "/var/tmp", "/dev/shm", "/run")
NODE_LOCAL_FS = {"tmpfs", "ramfs", "devtmpfs"}


@dataclass
class SubmitOptions:
    """How jobs are submitted: the executor and, for SLURM, the resources of one job."""

    executor: str = LOCAL
    pack: int = 1  # command lines run one after the other inside one job
    partition: str | None = None
    time: int | None = None  # minutes per job
    gpus_per_job: int | None = None
    cpus_per_job: int | None = None
    mem_gb: float | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    array_parallelism: int | None = None  # most array tasks running at once
    slurm_option: list[str] = field(default_factory=list)  # extra KEY=VALUE sbatch options


def add_options(parser: argparse.ArgumentParser) -> None:
    """The executor flags (the sweep command, unlearn/sweep/local.py, and any script that submits
    through `submit_calls`)."""
    group = parser.add_argument_group("executor (SLURM through submitit)")
    group.add_argument("--executor", choices=EXECUTORS, default=LOCAL,
                       help="local: this machine's process pool (default); slurm: a SLURM job "
                            "array; submitit-local / submitit-debug: submitit's local "
                            "executors, same code path as slurm (tests)")
    group.add_argument("--pack", type=int, default=None,
                       help="command lines per job, run one after the other (submitit only; "
                            "default 1)")
    group.add_argument("--partition", help="SLURM partition")
    group.add_argument("--time", type=int, help="SLURM time limit per job, minutes")
    group.add_argument("--gpus-per-job", type=int, help="SLURM GPUs per job (--gpus-per-node)")
    group.add_argument("--cpus-per-job", type=int, help="SLURM CPUs per job (--cpus-per-task)")
    group.add_argument("--mem-gb", type=float, help="SLURM memory per job, GB")
    group.add_argument("--account", help="SLURM account")
    group.add_argument("--qos", help="SLURM quality of service")
    group.add_argument("--constraint", help="SLURM node constraint")
    group.add_argument("--array-parallelism", type=int,
                       help="SLURM: most array tasks running at once")
    group.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, e.g. --slurm-option reservation=mine "
                            "(repeatable)")
    group.add_argument("--assume-shared", action="store_true",
                       help="skip the check that paths are on a shared file system")


def options_from_args(args: argparse.Namespace) -> SubmitOptions:
    """Validated options; a SLURM option with another executor is a UsageError."""
    given = [spelling for dest, spelling in SLURM_ONLY.items() if getattr(args, dest)]
    if given and args.executor != SLURM:
        raise UsageError(f"{', '.join(given)} only apply to --executor slurm "
                         f"(the executor is {args.executor})")
    if args.pack is not None and args.executor == LOCAL:
        raise UsageError("--pack applies to the submitit executors (slurm, submitit-local, "
                         "submitit-debug), not to --executor local")
    pack = 1 if args.pack is None else args.pack
    if pack < 1:
        raise UsageError(f"--pack must be at least 1, got {pack}")
    for name in ("time", "gpus_per_job", "cpus_per_job", "mem_gb", "array_parallelism"):
        value = getattr(args, name)
        if value is not None and value <= (-1 if name == "gpus_per_job" else 0):
            raise UsageError(f"{SLURM_ONLY[name]} must be positive, got {value}")
    for item in args.slurm_option:
        if "=" not in item or not item.split("=", 1)[0]:
            raise UsageError(f"--slurm-option takes KEY=VALUE, got {item!r}")
    return SubmitOptions(executor=args.executor, pack=pack,
                         **{dest: getattr(args, dest) for dest in SLURM_ONLY})


# ------------------------------------------------------------------ shared file system check


def _mounts() -> list[tuple[str, str]]:
    """(mount point, file system type) from /proc/mounts, longest mount point first."""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3:
            mounts.append((parts[1].replace("\\040", " "), parts[2]))
    return sorted(mounts, key=lambda m: len(m[0]), reverse=True)


def node_local_reason(path: str | os.PathLike) -> str | None:
    """Why `path` is certainly not shared between nodes, or None when it may be.

    The heuristic: a relative path is taken from the current folder; the absolute path is
    node-local when it lies under /tmp, /var/tmp, /dev/shm, /run or $TMPDIR (SLURM clusters
    give every node its own), or on a RAM file system (tmpfs, ramfs) according to
    /proc/mounts. Anything else (NFS, Lustre, GPFS, BeeGFS, but also a local disk, which
    cannot be told apart from an exported one) passes.
    """
    absolute = Path(os.path.abspath(os.path.expanduser(str(path))))
    roots = list(NODE_LOCAL_ROOTS)
    if os.environ.get("TMPDIR"):
        roots.append(os.path.abspath(os.environ["TMPDIR"]))
    for root in roots:
        if absolute == Path(root) or Path(root) in absolute.parents:
            return f"under {root}"
    for mount, fs in _mounts():
        if absolute == Path(mount) or Path(mount) in absolute.parents:
            return f"on a {fs} file system ({mount})" if fs in NODE_LOCAL_FS else None
    return None


def flag_values(argv: Sequence[str], name: str) -> list[str]:
    """Every value of `-name` / `--name` / `--na-me` in argv (also `--name=value`)."""
    values = []
    for i, token in enumerate(argv):
        if not token.startswith("-"):
            continue
        key, _, inline = token.lstrip("-").partition("=")
        if key.replace("-", "_") != name:
            continue
        if inline:
            values.append(inline)
        elif i + 1 < len(argv):
            values.append(argv[i + 1])
    return values


def check_shared_paths(commands: Sequence[Sequence[str]], log_dir: str | os.PathLike) -> None:
    """A UsageError naming the first path a SLURM job on another node could not see: the log
    folder, $UNLEARN_STORE, and the path flags of every command (-store, -results, ...)."""
    candidates = [("--log-dir", str(log_dir), None)]
    if os.environ.get(STORE_ENV):
        candidates.append((f"${STORE_ENV}", os.environ[STORE_ENV], None))
    for number, argv in enumerate(commands, 1):
        for name in PATH_FLAGS:
            candidates += [(f"-{name}", value, number) for value in flag_values(argv, name)]
    for what, value, number in candidates:
        reason = node_local_reason(value)
        if reason:
            where = f" (command {number})" if number else ""
            raise UsageError(f"{what} {value}{where} is node-local ({reason}): SLURM jobs on "
                             "other nodes cannot see it; use a shared file system, or pass "
                             "--assume-shared")


# ------------------------------------------------------------------ submitting


def make_executor(options: SubmitOptions, folder: Path, name: str = "unlearn"):
    """A submitit executor writing its job files and stdout/stderr under `folder`."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder / "%j",
                                     cluster=SUBMITIT_CLUSTERS[options.executor])
    # The jobs unpickle functions of this repository: make it importable wherever they start.
    setup = [f"export PYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}"]
    params: dict = {"name": name}
    if options.executor == SLURM:
        extra = dict(item.split("=", 1) for item in options.slurm_option)
        params.update(slurm_setup=setup, slurm_partition=options.partition,
                      slurm_account=options.account, slurm_qos=options.qos,
                      slurm_constraint=options.constraint,
                      slurm_array_parallelism=options.array_parallelism,
                      slurm_additional_parameters=extra or None)
        params.update(timeout_min=options.time, gpus_per_node=options.gpus_per_job,
                      cpus_per_task=options.cpus_per_job, mem_gb=options.mem_gb)
    elif options.executor == "submitit-local":
        # No `local_setup` here: with it the job's process is a shell, which does not pass on
        # the signal that cancels the job. submit_calls sets PYTHONPATH instead.
        params.update(timeout_min=LOCAL_TIMEOUT_MIN)
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return executor


def submit_calls(fn: Callable, calls: Sequence[tuple], options: SubmitOptions,
                 folder: Path, name: str = "unlearn") -> list:
    """Submit fn(*args) for each args tuple as one job array; returns the submitit jobs."""
    executor = make_executor(options, folder, name)
    columns = list(zip(*calls)) if calls else []
    if options.executor == SLURM:
        return executor.map_array(fn, *columns)
    # Local jobs inherit this process's environment when they start.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), saved) if p)
    try:
        return executor.map_array(fn, *columns)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


# ------------------------------------------------------------------ sweeps


def pack_jobs(jobs: Sequence, per_job: int) -> list[list]:
    """Consecutive groups of `per_job` runs (the last one may be shorter)."""
    return [list(jobs[i:i + per_job]) for i in range(0, len(jobs), per_job)]


def run_pack(jobs: list, log_dir: Path) -> list:
    """Inside one job: run the pack's command lines in turn, each exactly as a local sweep
    runs it (runner.Runner: same log, same skip and failure handling). Runs on the
    devices the job was given (SLURM's CUDA_VISIBLE_DEVICES is kept)."""
    runner = Runner(Pool([INHERIT]), Path(log_dir), threading.Event())
    outcomes = []
    try:
        for job in jobs:
            outcomes.append(runner.run(job))
    except KeyboardInterrupt:  # the job was cancelled: stop the running command, record none
        runner.interrupt()
        for process in list(runner.live.values()):
            process.wait()
    done = {o.job.index for o in outcomes}
    return outcomes + [Outcome(job, "not run") for job in jobs if job.index not in done]


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def _job_failed(pack: list, job, error: BaseException) -> list:
    """Outcomes of a pack whose job itself died (time limit, node failure, cancelled)."""
    log = Path(job.paths.stderr) if hasattr(job, "paths") else None
    return [Outcome(run, "failed", None, 0.0, f"job {job.job_id}: {_first_line(error)}",
                          log, SLURM) for run in pack]


def run_sweep(jobs: list, options: SubmitOptions, log_dir: Path, *,
              out: TextIO | None = None) -> list:
    """Submit the sweep's jobs in packs as one array and wait; returns outcomes in input order.

    Ctrl-C cancels the jobs not finished (their runs are "not run")."""
    out = out or sys.stdout
    packs = pack_jobs(jobs, options.pack)
    folder = log_dir / "submitit"
    print(f"sweep: {len(jobs)} runs in {len(packs)} {options.executor} job(s) of up to "
          f"{options.pack}; logs in {log_dir}", file=out, flush=True)
    submitted = submit_calls(run_pack, [(pack, log_dir) for pack in packs], options, folder,
                             name="sweep")
    by_job = {id(job): pack for job, pack in zip(submitted, packs)}
    outcomes: dict[int, object] = {}
    pending = list(submitted)

    def collect(job, cancelled: bool = False) -> None:
        try:
            results = job.result()
        except Exception as error:  # the job died: every run of its pack not finished
            results = ([Outcome(run, "not run") for run in by_job[id(job)]] if cancelled
                       else _job_failed(by_job[id(job)], job, error))
        for outcome in results:
            outcomes[outcome.job.index] = outcome
            print(progress_line(outcome, len(outcomes), len(jobs)), file=out, flush=True)

    try:
        while pending:
            finished = [job for job in pending if job.done()]
            for job in finished:
                collect(job)
                pending.remove(job)  # after collecting: an interrupt in between loses nothing
            if pending and not finished:
                time.sleep(0.2 if options.executor != SLURM else 10.0)
    except KeyboardInterrupt:
        print("sweep: interrupted; cancelling the jobs not finished", file=out, flush=True)
        for job in pending:
            job.cancel(check=False)
        if options.executor == "submitit-local":
            # Cancelled local jobs stop their command and return what they finished.
            deadline = time.monotonic() + 60
            while any(not job.done() for job in pending) and time.monotonic() < deadline:
                time.sleep(0.2)
            for job in pending:
                # a job killed before it wrote its result has nothing to collect, and asking
                # submitit for it waits out its results timeout: its runs stay "not run"
                if job.done() and job.paths.result_pickle.exists():
                    collect(job, cancelled=True)
    return [outcomes.get(job.index, Outcome(job, "not run")) for job in jobs]
