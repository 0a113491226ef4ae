"""bench_tuning runs end to end on a small generated set and reports both methods."""

import json

from bench import bench_tuning


def test_bench_tuning_reports_trials_per_minute(tmp_path):
    out = tmp_path / "b.json"
    assert bench_tuning.main(["--n-train", "200", "--reps", "1", "--cache", str(tmp_path),
                              "--json", str(out)]) == 0
    numbers = json.loads(out.read_text())
    assert set(numbers["per_minute"]) == {"lipschitz_forgetting", "finetune"}
    assert all(v > 0 for v in numbers["per_minute"].values())
