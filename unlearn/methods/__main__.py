"""List the registered methods without importing torch (the sweep scripts call this).

    python -m unlearn.methods list --task full_class   # one name per line, in table order
    python -m unlearn.methods list                     # every method, with its tasks and data
    python -m unlearn.methods table                    # the README's method table (markdown)
"""

from __future__ import annotations

import argparse
import sys

from unlearn.exit_codes import guarded
from unlearn.methods.registration import TASK_ORDER, declared, methods_for

TASK_SHORT = {"full_class": "full", "sub_class": "sub", "random": "random"}


def markdown_table() -> str:
    """The README's table of methods, from their declarations (a test keeps them equal)."""
    lines = ["| method | reads | tasks | what it does |", "|---|---|---|---|"]
    for name, method in declared().items():
        reads = ", ".join(sorted(method.data)) or "nothing (model only)"
        tasks = ", ".join(TASK_SHORT[t] for t in TASK_ORDER if t in method.tasks)
        lines.append(f"| `{name}` | {reads} | {tasks} | {method.summary} |")
    return "\n".join(lines)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearn.methods",
                                     description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="names of the registered methods")
    listing.add_argument("--task", choices=TASK_ORDER, help="only the methods for this task")
    commands.add_parser("table", help="the README's method table (markdown)")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(markdown_table())
    elif args.task:
        print("\n".join(methods_for(args.task)))
    else:
        for name, method in declared().items():
            tasks = ",".join(t for t in TASK_ORDER if t in method.tasks)
            print(f"{name}\t{tasks}\t{','.join(sorted(method.data)) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
