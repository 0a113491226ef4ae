"""`python -m unlearn.sweep`: the sweep command (unlearn/sweep/local.py)."""

import sys

from unlearn.sweep.local import main

if __name__ == "__main__":
    sys.exit(main())
