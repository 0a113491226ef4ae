"""The published `lipschitz` module, for code that imports it by that name from the repository
root (`from lipschitz import ...`): JiT's penalty, its options and the unlearning loop.

The implementation is unlearn/methods/lipschitz.py; this file only re-exports its public names.
It is not installed (pyproject.toml), so outside this folder the name `lipschitz` is free.
"""

from unlearn.methods.lipschitz import *  # noqa: F403
