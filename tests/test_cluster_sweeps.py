"""Sweeps through submitit (the code path of --executor slurm, run by submitit's local and
debug executors): packing, interrupt and resume, failures, model pools of pretraining runs,
and the options that must be refused before anything is submitted."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from data_files import write_fashion_mnist

import pretrain_model
from unlearn import exit_codes
from unlearn.errors import UsageError
from unlearn.sweep import cluster, local

ROOT = Path(__file__).resolve().parent.parent

# A stand-in for an entry point, with its protocol: -skip_done skips a name already recorded
# (exit code 3, unlearn/exit_codes.py), "fail*" records nothing and exits 1, "hang" waits for a
# release file (so a test can interrupt it), others append their name to the record.
FAKE = '''
import sys, time
from pathlib import Path
name, record, skip = sys.argv[1], Path(sys.argv[2]), "-skip_done" in sys.argv
done = record.read_text().split() if record.exists() else []
if skip and name in done:
    print(f"{name} already recorded in {record}", file=sys.stderr)
    sys.exit(3)
if name.startswith("fail"):
    print(f"{name}: something broke", file=sys.stderr)
    sys.exit(1)
if name == "hang":
    Path(str(record) + ".hanging").touch()
    while not Path(str(record) + ".release").exists():
        time.sleep(0.05)
with open(record, "a") as f:
    f.write(name + "\\n")
print(f"ran {name}")
'''


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE)
    record = tmp_path / "record.txt"

    def commands(*names):
        return [[sys.executable, str(script), name, str(record)] for name in names]

    return commands, record


def recorded(record: Path) -> list[str]:
    return record.read_text().split() if record.exists() else []


def sweep_argv(tmp_path, names, *options):
    listing = tmp_path / "grid.txt"
    script, record = tmp_path / "fake_run.py", tmp_path / "record.txt"
    listing.write_text("".join(f"{sys.executable} {script} {n} {record}\n" for n in names))
    return [str(listing), "--log-dir", str(tmp_path / "logs"), *options]


def test_pack_jobs():
    assert cluster.pack_jobs(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert cluster.pack_jobs(list(range(2)), 5) == [[0, 1]]
    assert cluster.pack_jobs([], 2) == []


def test_packed_debug_sweep_runs_each_command_once_with_its_own_log(fake, tmp_path, capsys):
    commands, record = fake
    names = ["a", "b", "fail1", "c", "d"]
    jobs = local.make_jobs(commands(*names))
    options = cluster.SubmitOptions(executor="submitit-debug", pack=2)
    outcomes = cluster.run_sweep(jobs, options, tmp_path / "logs")
    assert [o.status for o in outcomes] == ["done", "done", "failed", "done", "done"]
    assert recorded(record) == ["a", "b", "c", "d"]
    assert outcomes[2].last_error == "fail1: something broke"
    # One log per run, in the sweep's folder, named by its position, holding its command.
    assert sorted((tmp_path / "logs").glob("*.log")) == sorted(o.log for o in outcomes)
    for i, outcome in enumerate(outcomes, 1):
        assert outcome.log.name.startswith(f"{i:04d}_")
        assert outcome.log.read_text().startswith(f"$ {' '.join(outcome.job.argv)}\n")
    assert "ran c" in outcomes[3].log.read_text()
    out = capsys.readouterr().out
    assert "5 runs in 3 submitit-debug job(s) of up to 2" in out
    # The same summary as a local sweep.
    text = local.summary(outcomes, 1.0, tmp_path / "logs")
    assert "5 jobs: 4 done, 0 skipped (already recorded), 1 failed" in text
    # Again: the recorded runs are skipped, the failed one runs (and fails) again.
    again = cluster.run_sweep(jobs, options, tmp_path / "logs2")
    assert [o.status for o in again] == ["skipped", "skipped", "failed", "skipped", "skipped"]
    assert recorded(record) == ["a", "b", "c", "d"]


def test_local_executor_sweep_interrupted_then_resumed(fake, tmp_path):
    """python -m unlearn.sweep --executor submitit-local --pack 2: Ctrl-C (SIGINT) while a pack
    hangs cancels
    the unfinished job (130, "not run"); the same command again runs only what is missing."""
    _, record = fake
    names = ["a", "b", "hang", "c", "d"]  # packs [a, b] [hang, c] [d]
    argv = [sys.executable, "-m", "unlearn.sweep",
            *sweep_argv(tmp_path, names, "--executor", "submitit-local", "--pack", "2")]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env, cwd=tmp_path)
    hanging = Path(str(record) + ".hanging")
    deadline = time.monotonic() + 120
    results = tmp_path / "logs"  # the finished jobs' result files: packs [a, b] and [d]
    while not (hanging.exists() and len(list(results.glob("*/submitit/*/*_result.pkl"))) == 2):
        assert time.monotonic() < deadline and first.poll() is None, first.stdout.read()
        time.sleep(0.1)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 130, out
    assert sorted(recorded(record)) == ["a", "b", "d"]
    assert "5 jobs: 3 done, 0 skipped (already recorded), 0 failed, 2 not run" in out, out
    assert "interrupted; the same command again resumes" in out

    Path(str(record) + ".release").touch()
    second = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "5 jobs: 2 done, 3 skipped (already recorded), 0 failed" in second.stdout
    assert sorted(recorded(record)) == ["a", "b", "c", "d", "hang"]


@pytest.mark.slow  # pretraining runs as child processes through submitit
def test_model_pool_of_pretraining_runs_is_skipped_when_done(tmp_path):
    """A pool is pretrain_model.py command lines; -skip_done keeps finished checkpoints."""
    data = write_fashion_mnist(tmp_path / "data", n_train=20, n_test=10)
    pool = [[sys.executable, str(ROOT / "pretrain_model.py"), "-net", "CNN", "-dataset",
             "FashionMNIST", "-classes", "10", "-epochs", "1", "-b", "16", "-seed", str(seed),
             "-data_dir", str(data), "-out", str(tmp_path / f"pool-{seed}.pth")]
            for seed in (0, 1)]
    options = cluster.SubmitOptions(executor="submitit-debug", pack=2)
    first = cluster.run_sweep(local.make_jobs(pool), options, tmp_path / "logs")
    assert [o.status for o in first] == ["done", "done"]
    stamps = [(tmp_path / f"pool-{s}.pth").stat().st_mtime_ns for s in (0, 1)]
    again = cluster.run_sweep(local.make_jobs(pool), options, tmp_path / "logs")
    assert [o.status for o in again] == ["skipped", "skipped"]
    assert [(tmp_path / f"pool-{s}.pth").stat().st_mtime_ns for s in (0, 1)] == stamps


def test_pretrain_skip_done_refuses_another_recipe_at_the_same_path(tmp_path, capsys):
    data = write_fashion_mnist(tmp_path / "data", n_train=20, n_test=10)
    out = tmp_path / "m.pth"
    base = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-epochs", "1",
            "-b", "16", "-data_dir", str(data), "-out", str(out), "-skip_done"]
    assert pretrain_model.main(base) == 0
    assert pretrain_model.main(base) == exit_codes.SKIPPED  # finished: kept, exit code 3
    capsys.readouterr()
    assert pretrain_model.main([*base, "-seed", "3"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {out} holds another training run (different seed); choose another -out")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("options, message", [
    (["--partition", "gpu"], "error: --partition only apply to --executor slurm (the executor "
                             "is local)"),
    (["--executor", "submitit-local", "--time", "30", "--mem-gb", "8"],
     "error: --time, --mem-gb only apply to --executor slurm (the executor is submitit-local)"),
    (["--pack", "4"], "error: --pack applies to the submitit executors (slurm, submitit-local, "
                      "submitit-debug), not to --executor local"),
    (["--executor", "slurm", "--pack", "0"], "error: --pack must be at least 1, got 0"),
    (["--executor", "slurm", "--gpus", "0,1"],
     "error: --gpus and --jobs belong to --executor local; with submitit the job's resources "
     "come from --gpus-per-job and --cpus-per-job"),
    (["--executor", "slurm", "--slurm-option", "nokey"],
     "error: --slurm-option takes KEY=VALUE, got 'nokey'"),
])
def test_bad_executor_options_exit_2_before_submitting(tmp_path, capsys, options, message):
    (tmp_path / "grid.txt").write_text("true\n")
    code = local.main([str(tmp_path / "grid.txt"), "--log-dir", str(tmp_path / "logs"),
                       *options])
    assert code == 2
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "logs").exists()


def test_node_local_paths_are_refused_with_slurm(tmp_path, capsys, monkeypatch):
    # Where the checkout and pytest's temporary folder lie differs from machine to machine
    # (both may be under /tmp), so the node-local roots are set for the test: one folder
    # stands for /tmp, the rest of tmp_path for a shared file system.
    node_local, shared = tmp_path / "node-local", tmp_path / "shared"
    monkeypatch.setattr(cluster, "NODE_LOCAL_ROOTS", (str(node_local),))
    monkeypatch.setattr(cluster, "_mounts", lambda: [])
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.delenv(cluster.STORE_ENV, raising=False)
    grid = tmp_path / "grid.txt"
    grid.write_text(f"python forget_full_class_main.py -results {shared}/r.jsonl\n"
                    f"python pretrain_model.py -store {node_local}/pool -seed 1\n")
    argv = [str(grid), "--executor", "slurm", "--partition", "gpu", "--log-dir",
            str(shared / "logs")]
    assert local.main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: -store {node_local}/pool (command 2) is node-local (under {node_local}): "
        "SLURM jobs on other nodes cannot see it; use a shared file system, or pass "
        "--assume-shared")
    assert local.main([*argv[:-1], str(node_local / "logs")]) == 2
    assert f"error: --log-dir {node_local}/logs is node-local (under {node_local})" in \
        capsys.readouterr().err
    monkeypatch.setenv(cluster.STORE_ENV, f"{node_local}/store")
    with pytest.raises(UsageError, match=rf"\$UNLEARN_STORE {node_local}/store is node-local"):
        cluster.check_shared_paths([], shared / "logs")


def test_node_local_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", "/scratch/job42")
    assert cluster.node_local_reason("/tmp/x") == "under /tmp"
    assert cluster.node_local_reason("/scratch/job42/store") == "under /scratch/job42"
    assert cluster.node_local_reason("/tmpfoo/x") is None  # a prefix, not a parent
    monkeypatch.chdir("/var/tmp")
    assert cluster.node_local_reason("relative/store") == "under /var/tmp"
    monkeypatch.setattr(cluster, "_mounts", lambda: [("/data", "tmpfs"), ("/", "ext4")])
    assert cluster.node_local_reason("/data/store") == "on a tmpfs file system (/data)"
    assert cluster.node_local_reason("/home/me/store") is None


def test_flag_values():
    argv = ["python", "x.py", "-store", "a", "--store=b", "--results", "r", "-weight_path", "w"]
    assert cluster.flag_values(argv, "store") == ["a", "b"]
    assert cluster.flag_values(argv, "weight_path") == ["w"]
    assert cluster.flag_values(argv, "out") == []


def test_slurm_executor_parameters(tmp_path, monkeypatch):
    """The SLURM options reach sbatch (submitit writes the script; nothing is submitted)."""
    import submitit.slurm.slurm as slurm

    monkeypatch.setattr(slurm.SlurmExecutor, "affinity", staticmethod(lambda: 1))  # no srun
    options = cluster.SubmitOptions(executor="slurm", partition="gpu", time=90, gpus_per_job=2,
                                    cpus_per_job=8, mem_gb=32, array_parallelism=5,
                                    slurm_option=["reservation=mine"])
    executor = cluster.make_executor(options, tmp_path)
    script = executor._executor._make_submission_file_text("python -m x", "uid")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --gpus-per-node=2",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32GB",
                 "#SBATCH --reservation=mine"):
        assert line in script
    assert f"export PYTHONPATH={ROOT}" in script


def test_model_pool_in_the_store_is_skipped_when_stored(tmp_path):
    """A pool command with -store trains into the store once; the rerun reports it skipped."""
    data = write_fashion_mnist(tmp_path / "data", n_train=20, n_test=10)
    pool = [[sys.executable, str(ROOT / "pretrain_model.py"), "-net", "CNN", "-dataset",
             "FashionMNIST", "-classes", "10", "-epochs", "1", "-b", "16", "-data_dir",
             str(data), "-store", str(tmp_path / "store")]]
    options = cluster.SubmitOptions(executor="submitit-debug")
    assert [o.status for o in cluster.run_sweep(local.make_jobs(pool), options,
                                                tmp_path / "logs")] == ["done"]
    stored = list((tmp_path / "store").rglob("*.pth"))
    assert len(stored) == 1
    again = cluster.run_sweep(local.make_jobs(pool), options, tmp_path / "logs")
    assert [o.status for o in again] == ["skipped"]
    assert list((tmp_path / "store").rglob("*.pth")) == stored
