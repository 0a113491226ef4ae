"""The benchmarks run at tiny sizes, and their literal re-statements agree with the tool.

Speed is never asserted here (bench/ measures it); only that each benchmark runs and that the
literal procedures compute what the tool computes: the same JiT loss and update for the same
noise, the same metrics up to the published per-batch averaging, the same input tensors.
Also the bfloat16 autocast options (off: bit-identical; on: close, float32 results).
"""

import copy
import json

import pytest
import torch
from data_files import write_fashion_mnist

from bench import bench_attacks, bench_bf16, bench_eval, bench_jit, gpu_check, literal
from models import build_model
from unlearn.data import datasets
from unlearn.eval import metrics
from unlearn.methods.lipschitz import JitOptions, lipschitz_forgetting, lipschitz_penalty, perturb
from unlearn.run import experiment

SPEC = datasets.DATASETS["FashionMNIST"]


def cnn(seed: int = 0, classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("CNN", classes)


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    """Tiny Fashion-MNIST files: 300 train (30 per class), 50 test (5 per class)."""
    return str(write_fashion_mnist(tmp_path_factory.mktemp("fashion"), n_train=300, n_test=50))


# ---------------------------------------------------------------- literal JiT


@pytest.mark.parametrize("form", ["default", "published"])
def test_literal_jit_gives_the_tools_losses_and_weights(form):
    model = cnn().double()
    generator = torch.Generator().manual_seed(3)
    loader = [(torch.randn(4, 3, 32, 32, generator=generator, dtype=torch.float64), None)
              for _ in range(3)]
    if form == "default":
        options = JitOptions(sigma=0.5, eta=0.05, n_samples=3, seed=7)
    else:  # published quirks; train mode is deterministic for the CNN (no dropout, no BN)
        options = JitOptions.reference(0.5, 0.05, 3, seed=7)
    valid_range = datasets.valid_range(SPEC)
    tool, lit = copy.deepcopy(model), copy.deepcopy(model)
    stats = lipschitz_forgetting(tool, loader, "cpu", options, valid_range)
    lit.train(options.train_mode)
    losses = literal.literal_jit(
        lit, loader, "cpu", sigma=options.sigma, eta=options.eta, n_samples=options.n_samples,
        generator=torch.Generator().manual_seed(7), clamp=options.clamp,
        valid_range=valid_range, clear_grads=not options.accumulate_grads)
    assert stats["n_steps"] == len(losses) == 3
    assert stats["loss_first"] == pytest.approx(losses[0], rel=1e-12)
    assert stats["loss_last"] == pytest.approx(losses[-1], rel=1e-12)
    assert stats["loss_mean"] == pytest.approx(sum(losses) / 3, rel=1e-12)
    moved = max((p - q).abs().max().item() for p, q in zip(tool.parameters(),
                                                           model.parameters()))
    assert moved > 1e-6  # the steps did change the weights
    for p, q in zip(tool.parameters(), lit.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


def test_literal_jit_with_the_published_cpu_noise_runs():
    """On a CPU the published way of drawing the noise (CPU generator, then copied to the
    device) gives the numbers this tool's on-device draw gives (deviation D5)."""
    loader = [(torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)), None)] * 2
    losses = {}
    for noise in ("published", "shared"):
        losses[noise] = literal.literal_jit(
            cnn(), loader, "cpu", sigma=0.5, eta=1e-3, n_samples=2,
            generator=torch.Generator().manual_seed(0), noise=noise)
    assert len(losses["published"]) == 2 and losses["published"] == losses["shared"]
    assert losses["published"][0] != losses["published"][1]  # the step changed the model


def test_literal_noise_matches_perturb():
    x = torch.rand(5, 3, 8, 8) * 4 - 2
    lo, hi = datasets.valid_range(SPEC)
    for clamp in ("batch", "data_range", "none"):
        tool = perturb(x, 4, 0.7, torch.Generator().manual_seed(1), clamp, lo, hi)
        eps = torch.randn((4, *x.shape), generator=torch.Generator().manual_seed(1))
        for n in range(4):
            lit = literal.add_gaussian_noise(x.clone(), eps[n], 0.7, clamp, (lo, hi))
            assert torch.equal(tool[n], lit)


# ---------------------------------------------------------------- literal data and evaluation


@pytest.mark.parametrize("image_size", [32, 48])
def test_literal_lists_hold_the_tools_batches(fashion_dir, image_size):
    train = datasets.load_split("FashionMNIST", True, fashion_dir)
    test = datasets.load_split("FashionMNIST", False, fashion_dir)
    split = datasets.full_class_split(train.labels, test.labels, 2)
    lists = literal.published_data("FashionMNIST", 10, 2, fashion_dir, image_size, 16)
    for listed, images, indices in ((lists.forget_train_dl, train, split.forget_train),
                                    (lists.forget_valid_dl, test, split.forget_test)):
        x_lit = torch.stack([item[0] for item in listed.dataset])
        y_lit = torch.tensor([item[2] for item in listed.dataset])
        x, y = next(iter(datasets.BatchLoader(images, indices, 1000, spec=SPEC,
                                              image_size=image_size)))
        assert torch.equal(y, y_lit)
        torch.testing.assert_close(x, x_lit, rtol=0, atol=1e-5)  # antialias'd Resize: rounding
    assert len(lists.retain_train_dl.dataset) == len(split.retain_train) == 270
    assert len(lists.retain_valid_dl.dataset) == len(split.retain_test) == 45
    retain_labels = [item[2] for item in lists.retain_valid_dl.dataset]
    assert retain_labels == sorted(retain_labels)  # published lists are in class order


def test_literal_evaluation_equals_the_tools_up_to_batch_means(fashion_dir):
    train = datasets.load_split("FashionMNIST", True, fashion_dir)
    test = datasets.load_split("FashionMNIST", False, fashion_dir)
    split = datasets.full_class_split(train.labels, test.labels, 0)
    model = cnn(1)
    config = experiment.RunConfig(task="full_class", net="CNN", dataset="FashionMNIST",
                                  num_classes=10, method="baseline", weight_path="",
                                  eval_batch_size=64)
    ours = experiment.evaluate(model, config, SPEC, train, test, split, "cpu")
    lists = literal.published_data("FashionMNIST", 10, 0, fashion_dir, 32, batch_size=16)
    theirs = literal.metric_scores(model, lists, "cpu")
    as_published = bench_eval.tool_as_published(model, test, SPEC, 0, "cpu", 16)
    for name in ("TestAcc", "RetainTestAcc", "Df"):
        assert as_published[name] == pytest.approx(theirs[name], abs=1e-4)
    assert ours["mia"] == theirs["MIA"]
    # The attack's feature: batch-1 float32 entropies equal the tool's batched float64 ones.
    x_f, _, x_r, _ = literal.get_membership_attack_data(
        lists.retain_train_dl, lists.forget_train_dl, lists.valid_dl, model)
    loader = datasets.BatchLoader(train, split.forget_train, 64, spec=SPEC, image_size=32)
    logits, _ = metrics.predict(model, loader, "cpu")
    tool_entropy = metrics.entropy(torch.softmax(logits.double(), dim=1))
    torch.testing.assert_close(torch.from_numpy(x_f).flatten().double(), tool_entropy,
                               rtol=0, atol=1e-5)
    assert len(x_r) == len(split.retain_train) + len(test)


# ---------------------------------------------------------------- bfloat16 options


def test_bf16_autocast_off_is_identical_on_is_close():
    model = cnn(2).eval()
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noisy = perturb(x, 3, 0.5, torch.Generator().manual_seed(1), "none")
    base = lipschitz_penalty(model, x, noisy)
    assert torch.equal(lipschitz_penalty(model, x, noisy, autocast_bf16=False), base)
    low = lipschitz_penalty(model, x, noisy, autocast_bf16=True)
    assert low.dtype == torch.float32 and low.requires_grad
    assert low.item() == pytest.approx(base.item(), rel=0.2)


def test_bf16_option_runs_jit_and_evaluation(fashion_dir):
    model = cnn(3)
    loader = [(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5)), None)]
    options = JitOptions(sigma=0.5, eta=1e-3, n_samples=2, autocast_bf16=True)
    stats = lipschitz_forgetting(model, loader, "cpu", options, datasets.valid_range(SPEC))
    assert stats["n_steps"] == 1 and stats["loss_first"] > 0
    test = datasets.load_split("FashionMNIST", False, fashion_dir)
    batches = datasets.BatchLoader(test, None, 16, spec=SPEC, image_size=32)
    logits, labels = metrics.predict(model, batches, "cpu")
    same, _ = metrics.predict(model, batches, "cpu", autocast_bf16=False)
    low, low_labels = metrics.predict(model, batches, "cpu", autocast_bf16=True)
    assert torch.equal(same, logits) and torch.equal(low_labels, labels)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, logits, rtol=0.05, atol=0.05)
    scores = metrics.evaluate(model, "cpu", test=batches, retain_train=batches,
                              forget_train=batches, forget_test_mask=test.labels == 0,
                              autocast_bf16=True)
    assert 0.0 <= scores["mia"] <= 1.0


# ---------------------------------------------------------------- the benchmarks themselves


def test_bench_jit_quick_agrees(tmp_path):
    out = bench_jit.main(["--quick", "--reps", "1", "--published-noise",
                          "--json", str(tmp_path / "jit.json")])
    assert [n["net"] for n in out["networks"]] == ["CNN", "ViT (tiny, 32 px)"]
    for network in out["networks"]:
        check = network["check"]
        assert check["loss_abs_diff"] <= 1e-5 * abs(check["loss_tool"])
        # float32 weights: the two updates can differ by a few rounding steps of the weights
        assert check["update_max_abs_diff"] <= (1e-3 * check["update_max_abs"]
                                                + 4 * check["weight_ulp"])
        assert len(network["times"]["tool"]) == 1
    assert json.loads((tmp_path / "jit.json").read_text())["networks"]


def test_bench_eval_quick_agrees(tmp_path):
    out = bench_eval.main(["--quick", "--reps", "1", "--cache", str(tmp_path)])
    assert out["n_train"] == 300 and out["n_test"] == 50
    assert out["abs_diff"] and all(diff <= 1e-4 for diff in out["abs_diff"].values())


@pytest.mark.parametrize("task", ["full_class", "random"])
def test_bench_attacks_quick(tmp_path, task):
    out = bench_attacks.main(["--quick", "--reps", "1", "--task", task, "--cache", str(tmp_path)])
    assert out["unchanged"]  # the attacks only add keys
    assert 0.0 <= out["scores"]["attack_loss_auc"] <= 1.0
    assert out["with_over_without"]["median"] > 0
    assert len(out["attack_step_s"]) >= 3 and out["without_plus_step_over_without"]["min"] > 1
    # the power: the same weights stand in for the original, so it equals the result
    assert out["scores"]["attack_loss_auc_original"] == pytest.approx(
        out["scores"]["attack_loss_auc"], abs=1e-9)
    assert len(out["power_s"]) == len(out["times"]["without"])  # alternated with them


def test_bench_bf16_quick(tmp_path):
    """bfloat16 leaves JiT's update at σ 0.5 pointing the same way, moves it more at σ 0.01,
    and barely changes the metrics (the findings bench/README.md reports)."""
    out = bench_bf16.main(["--quick", "--reps", "1", "--cache", str(tmp_path)])
    wide, narrow = out["jit"]
    assert (wide["sigma"], narrow["sigma"]) == (0.5, 0.01)
    assert wide["safe"] and wide["update_cosine"] > 0.99
    assert narrow["update_rel_bf16"] > wide["update_rel_bf16"]
    for key, delta in out["eval_delta"].items():
        assert abs(delta) <= (0.1 if key == "mia" else 10.0), (key, delta)
    assert out["eval_delta"]["acc_test"] == out["eval_bf16"]["acc_test"] - out["eval_fp32"][
        "acc_test"]


@pytest.mark.slow  # two gloo processes each starting torch
def test_gpu_check_dry_ddp_step(tmp_path):
    """The DDP step in dry mode: one and two gloo processes train an epoch of the CNN."""
    code = gpu_check.main(["--dry", "--steps", "ddp", "--out", str(tmp_path / "gpu_check.txt"),
                           "--cache", str(tmp_path / "cache")])
    text = (tmp_path / "gpu_check.txt").read_text()
    assert code == 0, text
    result = json.loads((tmp_path / "ddp.json").read_text())
    assert set(result["worlds"]) == {"1", "2"} and result["device"] == "cpu"
    assert all(len(w["epoch_s"]) == 1 and w["median_s"] > 0 for w in result["worlds"].values())
    assert "##### ddp: ok" in text


@pytest.mark.slow
def test_gpu_check_dry_runs_every_benchmark(tmp_path):
    """The GPU check's dry mode: all seven steps (incl. the whole-run and memory benchmarks,
    which start their own processes) at tiny sizes on the CPU."""
    code = gpu_check.main(["--dry", "--out", str(tmp_path / "out" / "gpu_check.txt"),
                           "--cache", str(tmp_path / "cache")])
    text = (tmp_path / "out" / "gpu_check.txt").read_text()
    assert code == 0, text
    for name, *_ in gpu_check.STEPS:
        assert json.loads((tmp_path / "out" / f"{name}.json").read_text()), name
    run = json.loads((tmp_path / "out" / "run_fashion.json").read_text())["shapes"][0]
    tool, lit = run["runs"]["tool"][0]["metrics"], run["runs"]["literal"][0]["metrics"]
    assert tool["MIA"] == lit["MIA"]  # same JiT arithmetic, same entropies
    memory = json.loads((tmp_path / "out" / "memory.json").read_text())
    assert len(memory["literal_points"]) == 2


def test_bench_checkpoint_digest_runs(tmp_path):
    from bench import bench_checkpoint_digest

    out = tmp_path / "digest.json"
    assert bench_checkpoint_digest.main(["--quick", "--json", str(out)]) == 0
    measured = json.loads(out.read_text())
    assert measured["net"] == "CNN" and len(measured["times"]["without"]) == 3


def test_bench_forget_only_quick(tmp_path, fashion_dir):
    """The forget-only cost benchmark runs every forget-only method through the entry point
    and reports each ratio (a random-initialised CNN: the numbers mean nothing here)."""
    from bench import bench_forget_only
    from models.checkpoint import save_checkpoint
    weights = tmp_path / "cnn.pth"
    save_checkpoint(weights, cnn(), {"arch": "CNN", "num_classes": 10,
                                     "dataset": "FashionMNIST"})
    out = tmp_path / "numbers.json"
    assert bench_forget_only.main(["--quick", "--weights", str(weights), "--data-dir",
                                   fashion_dir, "--json", str(out)]) == 0
    numbers = json.loads(out.read_text())
    assert set(numbers["competitor_over_anchored"]) == set(bench_forget_only.COMPETITORS)
    assert numbers["anchored_over_one_pass"] > 0


def test_bench_gkt_quick(tmp_path, fashion_dir):
    """The gkt benchmark runs the published computation and the default through the entry
    point and reports the speed-up and both results (a random-initialised CNN)."""
    from bench import bench_gkt
    from models.checkpoint import save_checkpoint
    weights = tmp_path / "cnn.pth"
    save_checkpoint(weights, cnn(), {"arch": "CNN", "num_classes": 10,
                                     "dataset": "FashionMNIST"})
    out = tmp_path / "numbers.json"
    assert bench_gkt.main(["--quick", "--weights", str(weights), "--data-dir", fashion_dir,
                           "--json", str(out)]) == 0
    numbers = json.loads(out.read_text())
    assert set(numbers["metrics"]) == {"published, seed 0", "default, seed 0", "default, seed 1"}
    assert numbers["speedup"] > 0
