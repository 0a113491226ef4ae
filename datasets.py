"""The published `datasets` module, for code that imports it by that name from the repository
root (`import datasets`): the DATASETS registry, class names, the three splits and the batched
loader.

The implementation is unlearn/data/datasets.py; this file only re-exports its public names. It
is not installed (pyproject.toml), so outside this folder the name `datasets` stays Hugging
Face's.
"""

from unlearn.data.datasets import *  # noqa: F403
