"""Make committed records portable: rewrite one machine's absolute paths into paths relative to
the repository, the form every committed row, command and report uses.

    python scripts/portable_records.py [PATH ...] [--check]

PATH: files or folders (default: docs/, tuned/ and bench/results/). The rules, in order:
- the model store a study used (`/work/study/store`) becomes `checkpoints/store`, the tool's
  default store, so a model is named by its store key (`checkpoints/store/<net>-<dataset>/
  <key>.pth`);
- a worktree of this repository pinned to a commit (`/work/pin-<name>/...`) becomes the path
  inside the repository;
- any other working folder `/work/<name>/...` becomes `results/<name>/...`, inside the
  repository's (git-ignored) results folder;
- the GPU machine's output folder `/root/out/` becomes `$OUT/`, as the device runs name it.

Only text files change; each JSON line must still parse and each CSV line keep its column count,
or nothing is written. --check rewrites nothing: it lists the files that still hold an absolute
path and exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ["docs", "tuned", "bench/results"]
NOT_A_PATH_CHAR = r"(?<![\w.~/-])"
END = r"(?=[/\"'\s,;)]|$)"  # the folder's name ends here
RULES = [
    (re.compile(NOT_A_PATH_CHAR + r"/work/study/store" + END, re.M), "checkpoints/store"),
    (re.compile(NOT_A_PATH_CHAR + r"/work/pin-[\w.-]+/"), ""),
    (re.compile(NOT_A_PATH_CHAR + r"/work/([\w.-]+)" + END, re.M), r"results/\1"),
    (re.compile(NOT_A_PATH_CHAR + r"/root/out/"), "$OUT/"),
]
ABSOLUTE = re.compile(NOT_A_PATH_CHAR + r"/(work|home|root|tmp|Users)/")


def rewrite(text: str) -> str:
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def check_structure(path: Path, before: str, after: str) -> None:
    """Raise ValueError when the rewrite broke a JSON line or a CSV row's column count."""
    if path.suffix == ".jsonl":
        for line in after.splitlines():
            if line.strip():
                json.loads(line)  # a JSONDecodeError is a ValueError
    elif path.suffix == ".json":
        json.loads(after)
    elif path.suffix == ".csv":
        widths = [len(row) for row in csv.reader(io.StringIO(before))]
        if widths != [len(row) for row in csv.reader(io.StringIO(after))]:
            raise ValueError("a row's column count changed")


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def files(paths: list[str]) -> list[Path]:
    found = []
    for name in paths:
        path = ROOT / name
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS,
                        help="files or folders, relative to the repository (default: docs, "
                             "tuned, bench/results)")
    parser.add_argument("--check", action="store_true",
                        help="list the files that still hold an absolute path; change nothing")
    args = parser.parse_args(argv)
    left, changed = [], 0
    for path in files(args.paths):
        text = text_of(path)
        if text is None:
            continue
        if args.check:
            left += [path] if ABSOLUTE.search(text) else []
            continue
        new = rewrite(text)
        if new == text:
            continue
        try:
            check_structure(path, text, new)
        except ValueError as error:
            print(f"error: {path.relative_to(ROOT)}: the rewrite would break it ({error})",
                  file=sys.stderr)
            return 2
        path.write_text(new, encoding="utf-8")
        changed += 1
        left += [path] if ABSOLUTE.search(new) else []
    if not args.check:
        print(f"rewrote {changed} files")
    for path in left:
        print(f"absolute path left in {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
