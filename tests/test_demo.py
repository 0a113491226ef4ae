"""The demo's verdict lines: which method met its target, computed from the recorded rows."""

from scripts.demo import choice_lines, target_lines


def row(method, dr, df, **extra):
    return {"method": method, "status": "ok",
            "metrics": {"acc_retain_test": dr, "acc_forget_test": df}, **extra}


def test_each_forgetting_method_gets_a_met_or_missed_line():
    rows = [row("baseline", 87.0, 96.0), row("retrain", 88.0, 0.0),
            row("jit_anchored", 83.0, 9.5),  # Dr 4 below, Df 9.5 above retrain: met
            row("lipschitz_forgetting", 86.0, 43.8),  # Df 43.8 above retrain: missed
            row("distill_others", 81.5, 2.0)]  # Dr 5.5 below the original: missed
    lines = target_lines(rows)
    assert len(lines) == 3
    assert lines[0] == ("jit_anchored: met the demo's target (Df 9.50 vs retrain 0.00: at most "
                        "10 more; Dr 83.00 vs the original's 87.00: at most 5 less)")
    assert lines[1].startswith("lipschitz_forgetting: MISSED")
    assert lines[2].startswith("distill_others: MISSED") and "Dr 81.50 vs" in lines[2]


def test_no_verdict_without_the_original_or_the_retrain():
    assert "cannot be judged" in target_lines([row("jit_anchored", 80.0, 0.0)])[0]


def test_a_flagged_choice_is_shown():
    chosen = {"outcome": "guard tripped", "steps": 12, "lr_last": 1e-4, "target": 10.0,
              "flag": "guard"}
    line = choice_lines([row("jit_anchored", 80.0, 0.0, chosen=chosen)])[0]
    assert line == ("jit_anchored: guard tripped after 12 steps (last rate 0.0001; held-out "
                    "forget accuracy target 10.0 %); FLAGGED: guard")
