"""The Pareto front of forgetting against retained accuracy, from a study's trials.

A trial is on the front when no other trial forgets at least as much (lower or equal Df) while
keeping at least as much (higher or equal Dr), and is strictly better in one of the two. The
front is computed after the trials, from the scores every trial records; the single-objective
study optimises the weighted distance to retrain, and the front shows what that choice traded.
"""

from __future__ import annotations

from pathlib import Path


def front(points: list[dict]) -> list[dict]:
    """The non-dominated points (each a dict with "df" and "dr"), sorted by Df."""
    def dominates(a, b):
        return (a["df"] <= b["df"] and a["dr"] >= b["dr"]
                and (a["df"] < b["df"] or a["dr"] > b["dr"]))
    kept = [p for p in points if not any(dominates(q, p) for q in points)]
    return sorted(kept, key=lambda p: (p["df"], -p["dr"]))


def plot(points: list[dict], on_front: list[dict], reference: dict, title: str,
         path: Path) -> Path:
    """Scatter of every trial, the front as a line, the retrained model as a star."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter([p["df"] for p in points], [p["dr"] for p in points], s=12, c="0.6",
               label="trials")
    ax.plot([p["df"] for p in on_front], [p["dr"] for p in on_front], "o-", c="C0",
            label="Pareto front")
    ax.scatter([reference["df"]], [reference["dr"]], marker="*", s=160, c="C3",
               label="retrained")
    ax.set_xlabel("forgotten accuracy Df (%, validation)")
    ax.set_ylabel("retained accuracy Dr (%, validation)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
