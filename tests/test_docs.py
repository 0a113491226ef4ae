"""The documentation says only what exists, and committed records name no machine.

- Every command shown in a code block of README.md and docs/*.md runs: each Python script or
  module it names answers `--help` (and lists every double-dash flag the documents give it),
  each published sweep script runs as a dry run (DRY_RUN=1), each `make` target exists.
- No committed file under docs/, tuned/ or bench/results/ holds an absolute path of one
  machine (/work/, /home/, /root/, /tmp/, /Users/): records name models by store key and files
  relative to the repository (scripts/portable_records.py rewrites them).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RECORD_FOLDERS = ["docs", "tuned", "bench/results"]
ABSOLUTE = re.compile(r"(?<![\w.~/$-])/(work|home|root|tmp|Users)/[^\s\"'`,;)]*")
SCRIPT = re.compile(r"(?<![\w/.-])([\w/.-]+\.py)\b")
MODULE = re.compile(r"\bpython3?\s+-m\s+([\w.]+)")
SWEEP_SCRIPT = re.compile(r"(\./scripts/\w+\.sh)([^|>#;&]*)")
MAKE = re.compile(r"^\s*make\s+([\w-]+)")
LONG_FLAG = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def command_lines() -> list[tuple[str, str]]:
    """(document, line) for every line of every fenced code block, continuations joined."""
    lines = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for body in re.findall(r"```[\w-]*\n(.*?)```", text, re.S):
            for line in body.replace("\\\n", " ").splitlines():
                if line.strip():
                    lines.append((document.relative_to(ROOT).as_posix(), line))
    return lines


def segments(line: str, start: int) -> str:
    """The part of a line from `start` to the next pipe, redirection, `;` or comment."""
    return re.split(r"[|>;#]|&&", line[start:])[0]


def documented_python() -> dict[str, set[str]]:
    """Script path or `-m module` -> the double-dash flags the documents pass it."""
    found: dict[str, set[str]] = {}
    for _, line in command_lines():
        for match in MODULE.finditer(line):
            flags = LONG_FLAG.findall(segments(line, match.end()))
            found.setdefault(f"-m {match.group(1)}", set()).update(flags)
        for match in SCRIPT.finditer(line):
            flags = LONG_FLAG.findall(segments(line, match.end()))
            found.setdefault(match.group(1), set()).update(flags)
    return found


def documented_sweeps() -> list[tuple[str, list[str]]]:
    """(./scripts/X.sh, its arguments as written) for every sweep script a document runs."""
    found = []
    for _, line in command_lines():
        for match in SWEEP_SCRIPT.finditer(line):
            found.append((match.group(1), shlex.split(match.group(2))))
    return found


def child_environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
            "PYTHON": sys.executable, "DRY_RUN": "1", "WANDB_MODE": "disabled"}


@functools.cache
def help_text(target: str) -> subprocess.CompletedProcess:
    argv = [*target.split()] if target.startswith("-m ") else [target]
    return subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=child_environment())


PYTHON_TARGETS = sorted(documented_python())


def test_the_documents_show_commands():
    # the extraction finds what the README shows: a regression here hides every check below
    assert "pretrain_model.py" in PYTHON_TARGETS and "-m unlearn.sweep" in PYTHON_TARGETS
    assert documented_sweeps() and any(MAKE.match(line) for _, line in command_lines())


@pytest.mark.parametrize("target", PYTHON_TARGETS)
def test_every_documented_python_command_answers_help(target):
    if not target.startswith("-m "):
        assert (ROOT / target).is_file(), f"a document runs {target}, which does not exist"
    done = help_text(target)
    assert done.returncode == 0, (target, done.stderr[-2000:])
    assert "usage" in done.stdout.lower(), target
    unknown = sorted(flag for flag in documented_python()[target]
                     if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", done.stdout))
    assert not unknown, f"the documents pass {target} flags its --help does not list: {unknown}"


@pytest.mark.parametrize("script, arguments", sorted(set(
    (script, tuple(arguments)) for script, arguments in documented_sweeps())))
def test_every_documented_sweep_script_runs_dry(script, arguments):
    assert (ROOT / script).is_file(), f"a document runs {script}, which does not exist"
    if len(arguments) < 2 or any("$" in argument for argument in arguments):
        arguments = ("cpu", "0")  # written with the shell's variables: the script's own shape
    done = subprocess.run([str(ROOT / script), *arguments], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=child_environment())
    assert done.returncode == 0, (script, arguments, done.stderr[-2000:])
    assert " -method " in done.stdout, done.stdout[:500]  # the command lines, not run


def test_every_documented_make_target_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    shown = {match.group(1) for _, line in command_lines() if (match := MAKE.match(line))}
    assert shown and not shown - targets, shown - targets


def committed_files() -> list[Path]:
    """The files git tracks under the record folders (every file there outside a checkout)."""
    listed = subprocess.run(["git", "ls-files", "-z", *RECORD_FOLDERS], cwd=ROOT,
                            capture_output=True)
    if listed.returncode == 0:
        return [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    return [path for folder in RECORD_FOLDERS for path in (ROOT / folder).rglob("*")]


def test_no_committed_record_holds_an_absolute_path():
    offenders = []
    for path in committed_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary: plots
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if match := ABSOLUTE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert not offenders, (f"{len(offenders)} absolute paths (python "
                           "scripts/portable_records.py rewrites them):\n"
                           + "\n".join(offenders[:30]))
