"""Tables and plots from a results file; see unlearn/report/tables.py.

    python scripts/report.py results/results.jsonl --out results/report --seeds 3 \
        [--task full_class] [--dataset FashionMNIST] [--net CNN] [--method baseline,retrain]
"""

import sys

from unlearn.report.tables import entry

if __name__ == "__main__":
    sys.exit(entry())
