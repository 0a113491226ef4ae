"""One command line of a sweep, run as a child process: its device slot, its log, its outcome.

Shared by the local sweep (unlearn/sweep/local.py runs `Runner` on a pool of device slots) and
the SLURM one (unlearn/sweep/cluster.py runs the same `Runner` inside each job), so skipping,
claims, failure records and logs are the same on both. A run's outcome comes from its exit code
(unlearn/exit_codes.py): 0 done, 3 skipped, 4 claimed elsewhere, 130 or SIGINT not run (it
was interrupted), any other failed.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

from unlearn import exit_codes
from unlearn.exit_codes import INTERRUPTED

SKIP_FLAGS = ("-skip_done", "--skip_done", "--skip-done")
CPU = "cpu"
INHERIT = "inherit"  # inside a SLURM job: keep the GPUs the job was given
KILL_AFTER_S = 30.0  # grace time of interrupted jobs before they are killed
# The exit codes of a run that ended without an error, and the status each gives it.
DONE_STATUS = {exit_codes.OK: "done", exit_codes.SKIPPED: "skipped",
               exit_codes.CLAIMED: "claimed elsewhere"}


@dataclass
class Job:
    index: int  # 1-based position in the input
    argv: list[str]  # the command, split
    label: str  # short description: entry point, method, forget class, seed


@dataclass
class Outcome:
    job: Job
    status: str  # done | skipped | claimed elsewhere | failed | not run
    returncode: int | None = None
    seconds: float = 0.0  # wall time of the job
    last_error: str = ""  # last non-empty stderr line
    log: Path | None = None
    device: str = ""


@dataclass
class Pool:
    """Device slots: a job takes one for its whole run, so one job per listed device."""

    devices: list[str]  # CUDA indices, or CPU once per parallel job
    slots: Queue = field(init=False)

    def __post_init__(self):
        self.slots = Queue()
        for device in self.devices:
            self.slots.put(device)


def option_value(argv: list[str], name: str) -> str | None:
    """The value after `-name` / `--name` in argv, if present."""
    for i, token in enumerate(argv[:-1]):
        if token.lstrip("-").replace("-", "_") == name and token.startswith("-"):
            return argv[i + 1]
    return None


def job_label(argv: list[str]) -> str:
    """`entry method class seed` when the command has those flags (the random task's forget
    seed too), else the command itself."""
    scripts = [Path(t).stem for t in argv if t.endswith(".py")]
    parts = scripts[:1] + [v for v in (option_value(argv, "method"),
                                       option_value(argv, "forget_class"),
                                       option_value(argv, "forget_subclass"))
                           if v is not None]
    for name, shown in (("forget_seed", "forget seed"), ("seed", "seed")):
        if option_value(argv, name) is not None:
            parts.append(f"{shown} {option_value(argv, name)}")
    return " ".join(parts) if len(parts) > 1 else shlex.join(argv)


def with_skip_done(argv: list[str]) -> list[str]:
    return argv if any(t in SKIP_FLAGS for t in argv) else [*argv, "-skip_done"]


def job_environment(device: str, cpu_jobs: int) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if device == INHERIT:  # the scheduler already chose the devices
        return env
    # Hide every GPU from CPU jobs; pin a GPU job to its device (it sees it as cuda:0).
    env["CUDA_VISIBLE_DEVICES"] = "" if device == CPU else device
    if device == CPU and cpu_jobs > 1 and "OMP_NUM_THREADS" not in os.environ:
        # Parallel CPU jobs share the cores instead of each starting one thread per core.
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // cpu_jobs))
    return env


class Runner:
    """Runs jobs on a pool of device slots and remembers the live processes (to stop them)."""

    def __init__(self, pool: Pool, log_dir: Path, stop: threading.Event):
        self.pool = pool
        self.log_dir = log_dir
        self.stop = stop
        self.cpu_jobs = pool.devices.count(CPU)
        self.live: dict[int, subprocess.Popen] = {}
        self.lock = threading.Lock()

    def run(self, job: Job) -> Outcome:
        device = self.pool.slots.get()
        try:
            return self._run_on(job, device)
        finally:
            self.pool.slots.put(device)

    def _run_on(self, job: Job, device: str) -> Outcome:
        if self.stop.is_set():
            return Outcome(job, "not run", device=device)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", job.label)[:80].strip("-")
        log = self.log_dir / f"{job.index:04d}_{name}.log"
        started = time.perf_counter()
        last_error = ""
        with open(log, "ab", buffering=0) as handle:
            handle.write(f"$ {shlex.join(job.argv)}\n# device: {device}\n".encode())
            with self.lock:  # so an interrupt either sees this process or stops it starting
                if self.stop.is_set():
                    return Outcome(job, "not run", log=log, device=device)
                try:
                    process = subprocess.Popen(job.argv, stdout=handle, stderr=subprocess.PIPE,
                                               stdin=subprocess.DEVNULL,
                                               env=job_environment(device, self.cpu_jobs))
                except OSError as error:
                    handle.write(f"cannot start: {error}\n".encode())
                    return Outcome(job, "failed", None, 0.0, f"cannot start: {error}", log,
                                   device)
                self.live[job.index] = process
            # stdout goes straight to the log; stderr passes through here to find the last
            # error line. Both append to the same file (O_APPEND).
            for raw in process.stderr:
                handle.write(raw)
                text = raw.decode(errors="replace").replace("\r", "\n").strip()
                if text:
                    last_error = text.splitlines()[-1].strip()
            returncode = process.wait()
            with self.lock:
                self.live.pop(job.index, None)
        seconds = time.perf_counter() - started
        if returncode in DONE_STATUS:
            return Outcome(job, DONE_STATUS[returncode], returncode, seconds, "", log, device)
        # Ctrl-C reaches the whole process group: a job that died of SIGINT was interrupted,
        # even if it ended before this runner saw the signal. It recorded nothing.
        interrupted = self.stop.is_set() or returncode in (-signal.SIGINT, INTERRUPTED)
        status = "not run" if interrupted else "failed"
        return Outcome(job, status, returncode, seconds, last_error, log, device)

    def interrupt(self) -> None:
        """Stop starting jobs and interrupt the running ones (they record nothing); kill
        those still running after KILL_AFTER_S seconds."""
        with self.lock:
            self.stop.set()
        self.send(signal.SIGINT)
        timer = threading.Timer(KILL_AFTER_S, self.send, (signal.SIGKILL,))
        timer.daemon = True
        timer.start()

    def send(self, signum: int) -> None:
        with self.lock:
            for process in self.live.values():
                if process.poll() is None:
                    process.send_signal(signum)


def make_jobs(commands: list[list[str]], skip_done: bool = True) -> list[Job]:
    return [Job(i, with_skip_done(argv) if skip_done else argv, job_label(argv))
            for i, argv in enumerate(commands, 1)]


def progress_line(outcome: Outcome, count: int, total: int) -> str:
    status = outcome.status
    if status == "failed":
        status = f"FAILED (exit {outcome.returncode})"
    return f"[{count}/{total}] {status} in {outcome.seconds:.1f} s: {outcome.job.label}"
