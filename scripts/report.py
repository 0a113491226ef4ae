"""Tables and plots from a results file; see report.py.

    python scripts/report.py results/results.jsonl --out results/report --seeds 3 \
        [--task full_class] [--dataset FashionMNIST] [--net CNN] [--method baseline,retrain]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from errors import UsageError  # noqa: E402
from report import main  # noqa: E402

if __name__ == "__main__":
    try:
        sys.exit(main())
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
