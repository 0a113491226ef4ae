"""The tool's own full-class run as one process, reporting its peak memory afterwards.

    python -m bench.run_tool --report R.json -- <forget_full_class_main.py arguments>
    python -m bench.run_tool --report R.json --config-json '{"task": "full_class", ...}'

The first form runs `forget_full_class_main.main(argv)` unchanged; the second builds an
`experiment.RunConfig` directly, for settings the command line does not offer (a ViT from a
config dict). The result row goes to the run's results file as always; R.json gets the exit
code and this process's peak resident memory (MB).
"""

from __future__ import annotations

import argparse
import json

from bench.common import peak_rss_mb, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, help="JSON file for exit code and memory")
    parser.add_argument("--config-json", default=None, help="an experiment.RunConfig as JSON")
    parser.add_argument("cli", nargs=argparse.REMAINDER, help="-- then the main's arguments")
    args = parser.parse_args(argv)
    if args.config_json is not None:
        from unlearn.run.experiment import RunConfig, run

        run(RunConfig(**json.loads(args.config_json)))
        code = 0
    else:
        import forget_full_class_main

        cli = args.cli[1:] if args.cli[:1] == ["--"] else args.cli
        code = forget_full_class_main.main(cli)
    write_json(args.report, {"rc": code, "peak_rss_mb": peak_rss_mb()})
    return code


if __name__ == "__main__":
    raise SystemExit(main())
