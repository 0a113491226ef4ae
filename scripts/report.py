"""Tables and plots from a results file; see unlearn/report.py.

    python scripts/report.py results/results.jsonl --out results/report --seeds 3 \
        [--task full_class] [--dataset FashionMNIST] [--net CNN] [--method baseline,retrain]
"""

import sys

from unlearn.errors import UsageError
from unlearn.report import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
