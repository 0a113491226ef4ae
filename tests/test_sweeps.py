"""Sweeps: the bash scripts end to end on tiny Fashion-MNIST files, resume after an interrupt,
failures recorded and survived, concurrent writers, and every scripted flag accepted."""

import io
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from data_files import write_fashion_mnist

import cli
import forget_full_class_main
import forget_random_main
import forget_sub_class_main
import pretrain_model
import results
import sweep
from methods import METHODS

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
LIB = ROOT / "scripts" / "sweep_lib.bash"
FULL = ROOT / "scripts" / "fashionmnist_fullclass_exps_cnn.sh"
SUB = ROOT / "scripts" / "fashionmnist_subclass_exps_cnn.sh"
RANDOM = ROOT / "scripts" / "fashionmnist_random_exps_cnn.sh"
PARSERS = {  # entry point file -> (task, its parser)
    "forget_full_class_main.py": ("full_class", cli.build_parser("full_class", 128, 0)),
    "forget_subclass_main.py": ("sub_class", cli.build_parser("sub_class", 64, 42)),
    "forget_sub_class_main.py": ("sub_class", cli.build_parser("sub_class", 64, 42)),
    "forget_random_main.py": ("random", cli.build_parser("random", 128, 0)),
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny Fashion-MNIST files and 1-epoch checkpoints for the 10-class and 4-group tasks."""
    root = tmp_path_factory.mktemp("sweep")
    data = write_fashion_mnist(root / "data", n_train=40, n_test=20)
    paths = {"data": data, "cnn10": root / "cnn10.pth", "cnn4": root / "cnn4.pth", "root": root}
    for dataset, classes, out in (("FashionMNIST", "10", paths["cnn10"]),
                                  ("FashionMNIST4", "4", paths["cnn4"])):
        assert pretrain_model.main(["-net", "CNN", "-dataset", dataset, "-classes", classes,
                                    "-epochs", "1", "-b", "16", "-data_dir", str(data),
                                    "-out", str(out)]) == 0
    return paths


def script_env(**extra) -> dict:
    env = dict(os.environ, WANDB_MODE="disabled", PYTHON=sys.executable, JOBS="1",
               FINETUNE_EPOCHS="1")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def dry_run(script: Path, *args: str, **extra) -> list[list[str]]:
    """The command lines a script would run (DRY_RUN=1), split."""
    out = subprocess.run(["bash", str(script), *args], env=script_env(DRY_RUN="1", **extra),
                         capture_output=True, text=True, check=True, cwd="/")
    return [shlex.split(line) for line in out.stdout.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# The scripts as files


def test_scripts_parse_and_are_executable():
    names = {p.name for p in SCRIPTS}
    for task in ("cifar100_fullclass", "cifar20_subclass", "cifar10_random"):
        assert {f"{task}_exps_vgg.sh", f"{task}_exps_vit.sh"} <= names
    assert {FULL.name, SUB.name, RANDOM.name} <= names
    for script in [*SCRIPTS, LIB]:
        subprocess.run(["bash", "-n", str(script)], check=True)
    for script in SCRIPTS:
        text = script.read_text()
        assert os.access(script, os.X_OK), script.name
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert "set -euo pipefail" in text and "sleep" not in text, script.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_generated_commands_parse(script):
    """Every command line of every grid, with every optional flag switched on, parses; the
    default arrays hold every method the registry offers for the task."""
    commands = dry_run(script, "0", "1,2", DATA_DIR="/data", VIT_WEIGHTS="/vit",
                       RETRAIN_PATH="r-{class}.pth")
    task = PARSERS[commands[0][1]][0]
    for argv in commands:
        assert argv[0] == sys.executable
        PARSERS[argv[1]][1].parse_args(argv[2:])  # exits (code 2) on an unknown flag or value
        assert {"-gpu", "-data_dir", "-vit_weights"} <= set(argv)
    methods = {argv[argv.index("-method") + 1] for argv in commands}
    assert methods == {name for name, m in METHODS.items() if task in m.tasks}
    assert {argv[argv.index("-seed") + 1] for argv in commands} == {"1", "2"}


def test_jit_settings_come_from_the_tables():
    """CIFAR sweeps: published JiT (-jit_reference); Fashion-MNIST: the mains' current CNN row."""
    for script, main in ((FULL, forget_full_class_main), (SUB, forget_sub_class_main),
                         (RANDOM, forget_random_main)):
        jit = dry_run(script, "cpu", "0", METHODS="lipschitz_forgetting")[0]
        table = main.JIT["CNN"]
        assert float(jit[jit.index("-sigma") + 1]) == table["sigma"]
        assert float(jit[jit.index("-eta") + 1]) == table["eta"]
        assert int(jit[jit.index("-n_samples") + 1]) == table["n_samples"]
        assert "-jit_reference" not in jit and "-gpu" not in jit
    cifar = dry_run(ROOT / "scripts" / "cifar100_fullclass_exps_vgg.sh", "0", "1",
                    METHODS="lipschitz_forgetting", JIT_SIGMA="0.7")
    assert len(cifar) == 5 and all("-jit_reference" in argv for argv in cifar)
    assert cifar[0][cifar[0].index("-sigma") + 1] == "0.7"
    assert cifar[0][cifar[0].index("-eta") + 1] == "3e-4"


def test_script_without_arguments_prints_usage():
    out = subprocess.run(["bash", str(FULL)], env=script_env(), capture_output=True, text=True)
    assert out.returncode == 2 and "usage:" in out.stderr


# ---------------------------------------------------------------------------------------------
# End to end


def ok_rows(path: Path) -> list[dict]:
    return [r for r in results.read_rows(path) if r["status"] == "ok"]


@pytest.mark.slow  # about 20-40 s on 2 cores: six entry-point processes
def test_sweep_end_to_end_interrupted_and_resumed(tiny):
    """Three scripts write one results file at once; one is interrupted after its first run
    and started again: the recorded run is skipped, the rest runs, no row is duplicated."""
    store = tiny["root"] / "e2e" / "results.jsonl"
    common = dict(DATA_DIR=tiny["data"], RESULTS=store)
    full_env = script_env(METHODS="baseline finetune", CLASSES="Trouser",
                          WEIGHT_PATH=tiny["cnn10"], **common)
    full = subprocess.Popen(["bash", str(FULL), "cpu", "0"], env=full_env, text=True,
                            stdout=subprocess.PIPE, start_new_session=True)
    others = [
        subprocess.Popen(["bash", str(SUB), "cpu", "0"], stdout=subprocess.DEVNULL,
                         env=script_env(METHODS="baseline", CLASSES="Sneaker",
                                        WEIGHT_PATH=tiny["cnn4"], **common)),
        subprocess.Popen(["bash", str(RANDOM), "cpu", "0"], stdout=subprocess.DEVNULL,
                         env=script_env(METHODS="baseline", FORGET_COUNT=5,
                                        WEIGHT_PATH=tiny["cnn10"], **common)),
    ]
    seen = []
    for line in full.stdout:  # interrupt (Ctrl-C to the whole group) once the first run is done
        seen.append(line)
        if "] done" in line:
            os.killpg(full.pid, signal.SIGINT)
            break
    rest, _ = full.communicate()
    assert full.returncode != 0, "".join(seen) + rest
    assert "not run" in rest, rest
    assert [p.wait() for p in others] == [0, 0]
    assert len(ok_rows(store)) == 3, rest  # the interrupted finetune recorded nothing

    again = subprocess.run(["bash", str(FULL), "cpu", "0"], env={**full_env, "JOBS": "2"},
                           text=True, capture_output=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 done, 1 skipped" in again.stdout, again.stdout
    rows = results.read_rows(store)
    assert all(r["status"] == "ok" for r in rows)
    assert len({r["config_key"] for r in rows}) == len(rows) == 4
    assert {(r["task"], r["method"]) for r in rows} == {
        ("full_class", "baseline"), ("full_class", "finetune"), ("sub_class", "baseline"),
        ("random", "baseline")}
    logs = list((store.parent / "logs").glob("sweep-*/*.log"))
    assert logs and all(log.read_text().startswith("$ ") for log in logs)


FAULTY_MAIN = """
import dataclasses, sys
sys.path.insert(0, {root!r})
import methods

def broken(model, data, device, **hyperparameters):
    raise RuntimeError("injected failure inside the method")

methods.METHODS["baseline"] = dataclasses.replace(methods.METHODS["baseline"], fn=broken)
import forget_full_class_main
sys.exit(forget_full_class_main.main())
"""


@pytest.mark.slow  # two entry-point processes
def test_failures_are_recorded_and_the_sweep_goes_on(tiny, tmp_path):
    store = tmp_path / "results.jsonl"
    faulty = tmp_path / "faulty_main.py"
    faulty.write_text(FAULTY_MAIN.format(root=str(ROOT)))
    run = ["-net", "CNN", "-dataset", "FashionMNIST", "-classes", "10", "-method", "baseline",
           "-forget_class", "Trouser", "-data_dir", str(tiny["data"]), "-results", str(store)]
    commands = [
        [sys.executable, "forget_full_class_main.py", *run, "-weight_path", str(tmp_path / "no")],
        [sys.executable, str(faulty), *run, "-weight_path", str(tiny["cnn10"])],
        [sys.executable, "-c", "print('still running')"],
    ]
    listing = tmp_path / "commands.txt"
    listing.write_text("# a comment\n\n" + "\n".join(shlex.join(c) for c in commands) + "\n")
    out = subprocess.run([sys.executable, "sweep.py", str(listing), "--gpus", "cpu", "--jobs",
                          "2", "--log-dir", str(tmp_path / "logs")], cwd=ROOT, text=True,
                         capture_output=True, env=script_env())
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 done, 0 skipped (already recorded), 2 failed" in out.stdout
    assert "[exit 2]" in out.stdout and "error: checkpoint not found" in out.stdout
    assert "RuntimeError: injected failure inside the method" in out.stdout
    rows = results.read_rows(store)  # bad input records nothing; a run that raised: one row
    assert len(rows) == 1 and rows[0]["status"] == "failed"
    assert "injected failure" in rows[0]["error"] and rows[0]["config_key"]


# One line (the runner reads one command per line): append 100 rows of 4 kB each.
WRITER = ("import sys; sys.path.insert(0, {root!r}); import results; "
          "[results.append_row({path!r}, dict(sweep={sweep}, job={job}, i=i, pad='x' * 4000)) "
          "for i in range(100)]")


def test_two_sweeps_on_one_results_file_lose_nothing(tmp_path):
    store = tmp_path / "results.jsonl"
    processes = []
    for sweep_id in range(2):
        listing = tmp_path / f"sweep{sweep_id}.txt"
        listing.write_text("\n".join(
            shlex.join([sys.executable, "-c", WRITER.format(root=str(ROOT), path=str(store),
                                                            sweep=sweep_id, job=job)])
            for job in range(4)))
        processes.append(subprocess.Popen(
            [sys.executable, "sweep.py", str(listing), "--jobs", "2", "--log-dir",
             str(tmp_path / "logs")], cwd=ROOT, stdout=subprocess.DEVNULL))
    assert [p.wait() for p in processes] == [0, 0]
    lines = store.read_text().splitlines()
    assert len(lines) == 800
    keys = {(r["sweep"], r["job"], r["i"]) for r in map(json.loads, lines)}
    assert len(keys) == 800


# ---------------------------------------------------------------------------------------------
# The runner's parts


def test_devices_jobs_and_labels():
    assert sweep.parse_devices("0,1,2,3", 1) == ["0", "1", "2", "3"]
    assert sweep.parse_devices("cpu", 3) == ["cpu"] * 3
    assert sweep.parse_devices(None, 1) == ["cpu"]
    for bad in ("gpu0", "0,,1"):
        with pytest.raises(ValueError):
            sweep.parse_devices(bad, 1)
    argv = shlex.split("python forget_full_class_main.py -method scrub "
                       "-forget_class 'Ankle boot' -seed 2")
    assert sweep.job_label(argv) == "forget_full_class_main scrub Ankle boot seed 2"
    assert sweep.with_skip_done(argv)[-1] == "-skip_done"
    assert sweep.with_skip_done([*argv, "--skip-done"]).count("-skip_done") == 0
    assert sweep.read_commands(["# c", "", "a 'b c'"]) == [["a", "b c"]]


def test_runner_goes_on_after_failures_and_summarizes_them(tmp_path):
    commands = [[sys.executable, "-c", "import sys; print('error: bad input', file=sys.stderr);"
                                       " sys.exit(2)"],
                [sys.executable, "-c", "raise RuntimeError('boom')"],
                [sys.executable, "-c", "import sys; print('already recorded in r.jsonl; "
                                       "skipped', file=sys.stderr)"],
                [sys.executable, "-c", "print('fine')"]]
    outcomes, log_dir = sweep.run_sweep(commands, ["cpu"], tmp_path, skip_done=False,
                                        out=io.StringIO())
    assert [o.status for o in outcomes] == ["failed", "failed", "skipped", "done"]
    assert [o.returncode for o in outcomes] == [2, 1, 0, 0]
    text = sweep.summary(outcomes, 1.0, log_dir)
    assert "1 done, 1 skipped (already recorded), 2 failed" in text
    assert "error: bad input" in text and "RuntimeError: boom" in text
    assert "fine" in outcomes[3].log.read_text()


def test_one_job_per_gpu_at_a_time(tmp_path):
    """Each job sees only its device; a device never runs two jobs at once."""
    record = tmp_path / "record.jsonl"
    job = ("import json, os, time; start = time.time(); sum(range(300000)); "
           f"open({str(record)!r}, 'a').write(json.dumps([os.environ['CUDA_VISIBLE_DEVICES'], "
           "start, time.time()]) + '\\n')")
    outcomes, _ = sweep.run_sweep([[sys.executable, "-c", job]] * 6, ["0", "1"], tmp_path,
                                  skip_done=False, out=io.StringIO())
    assert [o.status for o in outcomes] == ["done"] * 6
    spans = [json.loads(line) for line in record.read_text().splitlines()]
    assert {device for device, _, _ in spans} <= {"0", "1"}
    for device in ("0", "1"):
        mine = sorted((s, e) for d, s, e in spans if d == device)
        assert all(end <= start for (_, end), (start, _) in zip(mine, mine[1:]))
    cpu, _ = sweep.run_sweep([[sys.executable, "-c", "import os; "
                               "assert os.environ['CUDA_VISIBLE_DEVICES'] == ''"]],
                             ["cpu"], tmp_path, skip_done=False, out=io.StringIO())
    assert cpu[0].status == "done"
