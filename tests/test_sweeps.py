"""Sweeps: the command lines each script's grid produces, the settings they read where users
edit them, the bash scripts end to end on tiny Fashion-MNIST files, resume after an interrupt,
failures recorded and survived, and concurrent writers."""

import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_fixtures import invoke
from data_files import write_fashion_mnist

import forget_full_class_main
import forget_random_main
import forget_sub_class_main
import pretrain_model
from scripts import sweep_grid
from unlearn.errors import UsageError
from unlearn.methods import METHODS, hyperparameters
from unlearn.run import cli
from unlearn.store import results
from unlearn.sweep import local, runner

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*_exps_*.sh"))
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
JIT_TABLES = {"full_class": forget_full_class_main.JIT, "sub_class": forget_sub_class_main.JIT,
              "random": forget_random_main.JIT}
# Stands in for sweep_lib.bash: prints what the script hands to the grid, one NUL-ended item each.
ECHO_LIB = "sweep() { printf '%s\\0' \"$@\"; }\n"


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


@pytest.fixture(scope="module")
def declared(tmp_path_factory) -> dict[str, list[str]]:
    """Each script's arguments to the grid (up to `--`), read by running it with a stand-in
    sweep_lib.bash: what the script itself says, without a Python process per script."""
    folder = tmp_path_factory.mktemp("scripts")
    (folder / "sweep_lib.bash").write_text(ECHO_LIB)
    arguments = {}
    for script in SCRIPTS:
        shutil.copy(script, folder / script.name)
        out = subprocess.run(["bash", str(folder / script.name)], capture_output=True,
                             check=True).stdout
        items = [item.decode() for item in out.split(b"\0")[:-1]]
        assert items[-1] == "--", script.name  # the published arguments follow
        arguments[script.name] = items
    return arguments


def grid(declared, script: Path, *launch: str, **env) -> list[list[str]]:
    """The command lines `script GPU SEED ...` runs, built in this process."""
    environment = {key: str(value) for key, value in env.items()}
    return sweep_grid.commands(
        sweep_grid.parse([*declared[script.name], *launch], environment), environment)


def value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# ---------------------------------------------------------------------------------------------
# The scripts and the command lines of their grids


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
def test_generated_commands_parse(declared, script):
    """Every command line of every grid, with every optional flag switched on, parses with its
    entry point's parser; the grid holds every method the registry offers for the task, and
    the network and dataset the script's name says."""
    commands = grid(declared, script, "0", "1,2", DATA_DIR="/data", VIT_WEIGHTS="/vit",
                    RETRAIN_PATH="r-{class}.pth", PYTHON="py", B="32", FINETUNE_EPOCHS="2")
    task = PARSERS[commands[0][1]][0]
    for argv in commands:
        assert argv[0] == "py"
        args = PARSERS[argv[1]][1].parse_args(argv[2:])  # exits (code 2) on a bad flag or value
        assert (args.gpu, args.data_dir, args.vit_weights, args.b) == (True, "/data", "/vit", 32)
    methods = [value(argv, "-method") for argv in commands]
    assert set(methods) == {name for name, m in METHODS.items() if task in m.tasks}
    assert {value(argv, "-seed") for argv in commands} == {"1", "2"}
    net = {"vgg": "VGG16", "vit": "ViT", "cnn": "CNN"}[script.stem.rsplit("_", 1)[1]]
    assert {value(argv, "-net") for argv in commands} == {net}
    dataset = value(commands[0], "-dataset").lower()
    assert script.name.startswith(dataset.replace("4", "")), dataset


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_jit_settings_come_from_the_main_files_tables(declared, script):
    """The grid passes no copy of σ, η, N: each run resolves the task's main-file row for the
    script's network, as a run started by hand does; CIFAR grids run the published JiT
    (-jit_reference), Fashion-MNIST the default form."""
    (jit,) = grid(declared, script, "cpu", "0", METHODS="lipschitz_forgetting",
                  CLASSES="rocket")
    assert not {"-sigma", "-eta", "-n_samples"} & set(jit)
    task, parser = PARSERS[jit[1]]
    chosen = cli.method_hyperparameters(task, parser.parse_args(jit[2:]))
    row = JIT_TABLES[task][value(jit, "-net")]
    assert {name: chosen[name] for name in row} == row
    assert ("-jit_reference" in jit) == script.name.startswith("cifar")
    assert "-gpu" not in jit


def test_an_edited_jit_row_reaches_the_runs_and_a_bad_one_stops_the_grid(declared, tmp_path,
                                                                         monkeypatch, capsys):
    """The runs read the JiT table from the main file's text (the resolver's one reader): an
    edited row is what a run of the grid resolves, and a row without η refuses the whole grid
    before the first job, with the sentence a run would give."""
    original = (ROOT / "forget_full_class_main.py").read_text()
    row = '"CNN": dict(sigma=0.5, eta=5e-5, n_samples=25)'
    (tmp_path / "forget_full_class_main.py").write_text(
        original.replace(row, '"CNN": dict(sigma=0.75, eta=7e-5, n_samples=10)'))
    monkeypatch.setattr(hyperparameters, "ROOT", tmp_path)
    env = {"DRY_RUN": "1", "METHODS": "lipschitz_forgetting", "PYTHON": "py"}
    assert sweep_grid.main([*declared[FULL.name], "cpu", "3"], env) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == ("py forget_full_class_main.py -net CNN -dataset FashionMNIST -classes 10 "
                    "-method lipschitz_forgetting -forget_class Sneaker "
                    "-weight_path checkpoints/CNN-FashionMNIST.pth -seed 3 "
                    "-results results/results.jsonl")
    args = PARSERS["forget_full_class_main.py"][1].parse_args(line.split()[2:])
    chosen = cli.method_hyperparameters("full_class", args)
    assert (chosen["sigma"], chosen["eta"], chosen["n_samples"]) == (0.75, 7e-5, 10)

    (tmp_path / "forget_full_class_main.py").write_text(
        original.replace(row, '"CNN": dict(sigma=0.5, n_samples=25)'))
    outcome = invoke(lambda argv: sweep_grid.main(argv, env), [*declared[FULL.name], "cpu", "3"],
                     capsys)
    assert outcome.code == 2 and outcome.out == ""
    assert "no eta for lipschitz_forgetting with CNN" in outcome.err
    # JIT_ETA fills the gap, for the grid's check and for its runs
    assert sweep_grid.main([*declared[FULL.name], "cpu", "3"], {**env, "JIT_ETA": "1e-4"}) == 0
    assert capsys.readouterr().out.split()[-2:] == ["-eta", "1e-4"]


def test_environment_overrides(declared):
    """The documented variables replace what the script and the tables say."""
    commands = grid(declared, ROOT / "scripts" / "cifar100_fullclass_exps_vgg.sh", "cpu", "5",
                    "-eval_b", "64", PYTHON="py", METHODS="retrain, lipschitz_forgetting",
                    CLASSES="Ankle boot, bag", WEIGHT_PATH="w.pth", RESULTS="out/r.jsonl",
                    JIT_SIGMA="0.7", JIT_ETA="1e-3", JIT_N="5", RETRAIN_EPOCHS="3",
                    RETRAIN_PATH="ckpt/{class}.pth", DATA_DIR="")
    head = ["py", "forget_full_class_main.py", "-net", "VGG16", "-dataset", "Cifar100",
            "-classes", "100", "-method"]
    tail = ["-weight_path", "w.pth", "-seed", "5", "-results", "out/r.jsonl"]
    assert commands == [
        [*head, "retrain", "-forget_class", "Ankle boot", *tail, "-retrain_epochs", "3",
         "-retrain_path", "ckpt/Ankle boot.pth", "-eval_b", "64"],
        [*head, "lipschitz_forgetting", "-forget_class", "Ankle boot", *tail, "-sigma", "0.7",
         "-eta", "1e-3", "-n_samples", "5", "-jit_reference", "-eval_b", "64"],
        [*head, "retrain", "-forget_class", "bag", *tail, "-retrain_epochs", "3",
         "-retrain_path", "ckpt/bag.pth", "-eval_b", "64"],
        [*head, "lipschitz_forgetting", "-forget_class", "bag", *tail, "-sigma", "0.7",
         "-eta", "1e-3", "-n_samples", "5", "-jit_reference", "-eval_b", "64"],
    ]
    assert sweep_grid.log_dir({"RESULTS": "out/r.jsonl"}) == Path("out/logs")
    assert sweep_grid.log_dir({"RESULTS": "out/r.jsonl", "LOG_DIR": "L"}) == Path("L")


def test_epochs_come_from_the_recipes_and_the_random_amount_from_the_script(declared):
    """retrain: the published pretraining epochs (25 for VGG16 on CIFAR-10), retrain_reference:
    the published retrain's (20); FORGET_COUNT replaces the script's fraction."""
    script = ROOT / "scripts" / "cifar10_random_exps_vgg.sh"
    commands = grid(declared, script, "0", "1", METHODS="retrain retrain_reference finetune")
    assert [c[c.index("-method") + 1:] for c in commands] == [
        ["retrain", "-forget_perc", "0.00165", "-weight_path", "VGG16Cifar10.pth", "-seed", "1",
         "-results", "results/results.jsonl", "-retrain_epochs", "25"],
        ["retrain_reference", "-forget_perc", "0.00165", "-weight_path", "VGG16Cifar10.pth",
         "-seed", "1", "-results", "results/results.jsonl", "-retrain_epochs", "20"],
        ["finetune", "-forget_perc", "0.00165", "-weight_path", "VGG16Cifar10.pth", "-seed", "1",
         "-results", "results/results.jsonl"],
    ]
    (only,) = grid(declared, script, "0", "1", METHODS="baseline", FORGET_COUNT="7")
    assert value(only, "-forget_count") == "7" and "-forget_perc" not in only


@pytest.mark.parametrize("script, env, launch, message", [
    (FULL, {"METHODS": "lipschitz, baseline"}, ["cpu", "0"], "not a full_class method: lipschitz"),
    (RANDOM, {"METHODS": "emmn"}, ["cpu", "0"], "not a random method: emmn"),
    (FULL, {"JOBS": "two"}, ["cpu", "0"], "JOBS must be a number"),
    (FULL, {}, ["gpu0", "0"], "gpu0"),
    (RANDOM, {"FORGET_PERC": "0.1", "FORGET_COUNT": "5"}, ["cpu", "0"], "not both"),
])
def test_bad_grid_input_exits_2_with_one_line(declared, capsys, script, env, launch, message):
    assert sweep_grid.main([*declared[script.name], *launch], {"DRY_RUN": "1", **env}) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.splitlines()) == 1
    assert out.err.startswith("error: ") and message in out.err, out.err


def test_script_without_arguments_prints_usage():
    out = subprocess.run(["bash", str(FULL)], env=script_env(), capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"usage: {FULL} GPU SEED"), out.stderr


def test_script_dry_run_prints_its_grid(declared):
    """The bash script, through sweep_lib.bash, prints the grid's lines and runs nothing."""
    out = subprocess.run(["bash", str(SUB), "cpu", "0,1"], capture_output=True, text=True,
                         cwd="/", env=script_env(DRY_RUN="1", METHODS="baseline,finetune"))
    assert out.returncode == 0, out.stderr
    expected = grid(declared, SUB, "cpu", "0,1", PYTHON=sys.executable,
                    METHODS="baseline,finetune", FINETUNE_EPOCHS="1")
    assert [shlex.split(line) for line in out.stdout.splitlines()] == expected
    assert len(expected) == 4


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
from unlearn import methods

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
    out = subprocess.run([sys.executable, "-m", "unlearn.sweep", str(listing), "--gpus", "cpu",
                          "--jobs", "2", "--log-dir", str(tmp_path / "logs")], cwd=ROOT, text=True,
                         capture_output=True, env=script_env())
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 done, 0 skipped (already recorded), 2 failed" in out.stdout
    assert "[exit 2]" in out.stdout and "error: checkpoint not found" in out.stdout
    assert "RuntimeError: injected failure inside the method" in out.stdout
    rows = results.read_rows(store)  # bad input records nothing; a run that raised: one row
    assert len(rows) == 1 and rows[0]["status"] == "failed"
    assert "injected failure" in rows[0]["error"] and rows[0]["config_key"]


# One line (the runner reads one command per line): append 100 rows of 4 kB each.
WRITER = ("import sys; sys.path.insert(0, {root!r}); from unlearn.store import results; "
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
            [sys.executable, "-m", "unlearn.sweep", str(listing), "--jobs", "2", "--log-dir",
             str(tmp_path / "logs")], cwd=ROOT, stdout=subprocess.DEVNULL))
    assert [p.wait() for p in processes] == [0, 0]
    lines = store.read_text().splitlines()
    assert len(lines) == 800
    keys = {(r["sweep"], r["job"], r["i"]) for r in map(json.loads, lines)}
    assert len(keys) == 800


# ---------------------------------------------------------------------------------------------
# The runner's parts


def test_devices_jobs_and_labels():
    assert local.parse_devices("0,1,2,3", 1) == ["0", "1", "2", "3"]
    assert local.parse_devices("cpu", 3) == ["cpu"] * 3
    assert local.parse_devices(None, 1) == ["cpu"]
    for bad in ("gpu0", "0,,1"):
        with pytest.raises(UsageError, match="--gpus takes CUDA device indices"):
            local.parse_devices(bad, 1)
    argv = shlex.split("python forget_full_class_main.py -method scrub "
                       "-forget_class 'Ankle boot' -seed 2")
    assert runner.job_label(argv) == "forget_full_class_main scrub Ankle boot seed 2"
    random = shlex.split("py forget_random_main.py -forget_count 9 -forget_seed 1 -method scrub "
                         "-seed 2")
    assert runner.job_label(random) == "forget_random_main scrub forget seed 1 seed 2"
    assert runner.with_skip_done(argv)[-1] == "-skip_done"
    assert runner.with_skip_done([*argv, "--skip-done"]).count("-skip_done") == 0
    assert local.read_commands(["# c", "", "a 'b c'"]) == [["a", "b c"]]


def test_runner_goes_on_after_failures_and_summarizes_them(tmp_path):
    commands = [[sys.executable, "-c", "import sys; print('error: bad input', file=sys.stderr);"
                                       " sys.exit(2)"],
                [sys.executable, "-c", "raise RuntimeError('boom')"],
                [sys.executable, "-c", "import sys; sys.exit(3)"],  # skipped
                [sys.executable, "-c", "import sys; sys.exit(4)"],  # claimed elsewhere
                # the English of a skip no longer counts: the exit code does
                [sys.executable, "-c", "import sys; print('already recorded in r.jsonl; "
                                       "skipped', file=sys.stderr)"],
                [sys.executable, "-c", "print('fine')"]]
    outcomes, log_dir = local.run_sweep(commands, ["cpu"], tmp_path, skip_done=False,
                                        out=io.StringIO())
    assert [o.status for o in outcomes] == ["failed", "failed", "skipped", "claimed elsewhere",
                                            "done", "done"]
    assert [o.returncode for o in outcomes] == [2, 1, 3, 4, 0, 0]
    text = local.summary(outcomes, 1.0, log_dir)
    assert ("6 jobs: 2 done, 1 skipped (already recorded), 2 failed, 1 run by another sweep"
            in text)
    assert "error: bad input" in text and "RuntimeError: boom" in text
    assert "fine" in outcomes[5].log.read_text()


def test_one_job_per_gpu_at_a_time(tmp_path):
    """Each job sees only its device; a device never runs two jobs at once."""
    record = tmp_path / "record.jsonl"
    job = ("import json, os, time; start = time.time(); sum(range(300000)); "
           f"open({str(record)!r}, 'a').write(json.dumps([os.environ['CUDA_VISIBLE_DEVICES'], "
           "start, time.time()]) + '\\n')")
    outcomes, _ = local.run_sweep([[sys.executable, "-c", job]] * 6, ["0", "1"], tmp_path,
                                  skip_done=False, out=io.StringIO())
    assert [o.status for o in outcomes] == ["done"] * 6
    spans = [json.loads(line) for line in record.read_text().splitlines()]
    assert {device for device, _, _ in spans} <= {"0", "1"}
    for device in ("0", "1"):
        mine = sorted((s, e) for d, s, e in spans if d == device)
        assert all(end <= start for (_, end), (start, _) in zip(mine, mine[1:]))
    cpu, _ = local.run_sweep([[sys.executable, "-c", "import os; "
                               "assert os.environ['CUDA_VISIBLE_DEVICES'] == ''"]],
                             ["cpu"], tmp_path, skip_done=False, out=io.StringIO())
    assert cpu[0].status == "done"


CHILD = """
import pathlib, sys, time
pathlib.Path(sys.argv[1], "started").touch()
try:
    time.sleep(60)
except KeyboardInterrupt:
    pathlib.Path(sys.argv[1], "interrupted").touch()
    sys.exit(130)
"""


def test_a_sweep_started_with_sigint_ignored_still_interrupts_its_jobs(tmp_path):
    """Started in the background (SIGINT ignored, as `cmd &` in a script leaves it), a sweep
    stopped by SIGTERM still reaches its job with SIGINT: the job stops by itself, not by
    the kill after the grace time."""
    (tmp_path / "child.py").write_text(CHILD)
    command = shlex.join([sys.executable, str(tmp_path / "child.py"), str(tmp_path)])
    sweep = subprocess.Popen(
        [sys.executable, "-m", "unlearn.sweep", "--gpus", "cpu", "--jobs", "1",
         "--no-skip-done", "--log-dir", str(tmp_path / "logs")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    sweep.stdin.write(command + "\n")
    sweep.stdin.close()
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert sweep.poll() is None and time.monotonic() < deadline, sweep.stdout.read()
        time.sleep(0.1)
    sweep.send_signal(signal.SIGTERM)
    sweep.wait(timeout=60)
    output = sweep.stdout.read()
    assert sweep.returncode == 130, output
    assert (tmp_path / "interrupted").exists(), output
