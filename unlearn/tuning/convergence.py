"""The convergence plot of a study: the best distance so far against the trial number.

A curve still falling at the last trial says the budget did not converge; a flat tail says
more trials of the same sampler would likely not find a better setting. Widened bounds are
marked where they happened, since the curve may drop after a widening.
"""

from __future__ import annotations

from pathlib import Path


def best_so_far(values: list[float]) -> list[float]:
    """The running minimum of the trial values, in trial order."""
    best, out = float("inf"), []
    for value in values:
        best = min(best, value)
        out.append(best)
    return out


def plot(numbers: list[int], values: list[float], widened_after: list[int], title: str,
         path: Path) -> Path:
    """Each trial's distance (dots), the best so far (steps), a dashed line per widening."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(numbers, values, s=10, c="0.6", label="trial")
    ax.step(numbers, best_so_far(values), where="post", c="C0", label="best so far")
    for number in sorted(set(widened_after)):
        ax.axvline(number, ls="--", c="C3", lw=0.8)
    ax.set_xlabel("trial")
    ax.set_ylabel("distance to retrain (points)")
    ax.set_title(title + (" (dashed: a bound widened)" if widened_after else ""), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
