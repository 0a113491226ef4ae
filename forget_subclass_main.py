"""The published file name of the sub-class entry point; see forget_sub_class_main.py."""

import sys

from forget_sub_class_main import main

if __name__ == "__main__":
    sys.exit(main())
