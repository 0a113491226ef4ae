"""The code version recorded with every result row."""

from __future__ import annotations

import functools
import subprocess

from unlearn import REPO_ROOT

ROOT = REPO_ROOT


@functools.cache
def code_version() -> str:
    """`git describe` of this checkout (with `-dirty` for uncommitted changes), else 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT,
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
