"""Scripts run from the repository root; the modules among them run as `python -m scripts.X`."""
