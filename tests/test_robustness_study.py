"""The robustness study's command lists: the cells it promises, each run once, in the stores
and files its summary reads."""

from collections import Counter
from pathlib import Path

from scripts import robustness_study as study


def flag(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_every_demo_cell_gets_every_forget_only_method_once():
    runs = study.runs(Path("root"), Path("res"), "python")
    demo = [c for c in runs if flag(c, "-results") == str(Path("res") / "demo.jsonl")]
    cells = Counter((flag(c, "-store"), flag(c, "-weight_path"), flag(c, "-forget_class"),
                     flag(c, "-method")) for c in demo)
    # 5 seeds x 4 classes on the first build, 2 seeds x 4 classes on the second
    for method in [*study.CORE, *study.OTHERS]:
        per_store = Counter(store for store, _, _, m in cells if m == method)
        assert per_store == {str(Path("root") / "demo"): 20, str(Path("root") / "demo_b"): 8}
    assert set(cells.values()) == {1}  # no cell runs a method twice
    # the second build's originals are the second build's, not the first's
    assert all(flag(c, "-weight_path").startswith(flag(c, "-store")) for c in demo)


def test_memorising_runs_measure_closeness_to_their_retrains():
    """The memorising cells are the committed memorising studies' cells; their rows carry
    closeness to the same K retrains, so they extend those studies."""
    runs = study.runs(Path("root"), Path("res"), "python")
    memorising = [c for c in runs if flag(c, "-store") == str(Path("root") / "memorise")]
    assert memorising and all(flag(c, "-closeness_retrains") == str(study.RETRAINS)
                              for c in memorising)
    full_class = [c for c in memorising if flag(c, "-forget_class")]
    assert {flag(c, "-forget_class") for c in full_class} == set(study.MEMORISE_CLASSES)
    retrains = Counter(flag(c, "-retrain_index") for c in full_class
                       if flag(c, "-method") == "retrain")
    assert retrains == {str(k): 9 for k in range(study.RETRAINS)}  # 3 originals x 3 classes
