"""JiT against a slow, literal re-statement of the published loop."""

import copy
import weakref

import pytest
import torch
from torch import nn

from unlearn.errors import DivergedError, UsageError
from unlearn.methods.lipschitz import (
    JitOptions,
    lipschitz_forgetting,
    lipschitz_penalty,
    perturb,
    repetitions_per_forward,
)

SHAPE = (3, 4, 4)  # tiny images [C, H, W]
LO = torch.tensor([-1.0, -0.8, -1.2], dtype=torch.float64)  # per-channel valid range
HI = torch.tensor([1.0, 0.9, 1.1], dtype=torch.float64)


class TinyNet(nn.Module):
    def __init__(self, classes: int = 5, batchnorm: bool = False, dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4) if batchnorm else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(4 * 2 * 2, classes)
        self.modes = []  # self.training at each forward

    def forward(self, x):
        self.modes.append(self.training)
        return self.head(self.drop(torch.tanh(self.norm(self.conv(x))).flatten(1)))


def tiny(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return TinyNet(**kwargs).double()


def batch(b: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.rand((b, *SHAPE), generator=torch.Generator().manual_seed(seed)).double() * 2 - 1


def literal_loss(model, x, noise, sigma, clamp, reduction):
    """The published loop written out: per repetition noise, clamp, no-grad forward,
    per-sample ratios."""
    out = model(x)
    loss = 0
    for n in range(len(noise)):
        x2 = copy.deepcopy(x) + sigma * noise[n]
        if clamp == "batch":
            x2 = torch.clamp(x2, x.min().item(), x.max().item())
        elif clamp == "data_range":
            for c in range(x2.shape[1]):
                x2[:, c] = x2[:, c].clamp(LO[c].item(), HI[c].item())
        with torch.no_grad():
            out2 = model(x2)
        total = 0
        for i in range(len(x)):
            in_norm = torch.norm(x[i].flatten() - x2[i].flatten())
            out_norm = torch.norm(out[i] - out2[i])
            total = total + out_norm / in_norm
        loss = loss + (abs(total) if reduction == "sum" else total / len(x))
    return loss / len(noise)


def noise_of(seed: int, *shapes):
    """The noise perturb draws from a CPU generator seeded `seed`: for each [N, B, ...] shape,
    N draws of one repetition [B, ...]."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.stack([torch.randn(shape[1:], generator=gen, dtype=torch.float64)
                         for _ in range(shape[0])]) for shape in shapes]


def grads(model, loss):
    return torch.autograd.grad(loss, list(model.parameters()))


@pytest.mark.parametrize("clamp", ["batch", "data_range", "none"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_penalty_equals_literal_loop(clamp, reduction):
    model, x, n, sigma = tiny(), batch(), 5, 0.6
    x_noisy = perturb(x, n, sigma, torch.Generator().manual_seed(3), clamp, LO, HI)
    (noise,) = noise_of(3, (n, *x.shape))
    fast = lipschitz_penalty(model, x, x_noisy, reduction=reduction)
    slow = literal_loss(model, x, noise, sigma, clamp, reduction)
    assert torch.allclose(fast, slow, rtol=1e-10, atol=0)
    for g_fast, g_slow in zip(grads(model, fast), grads(model, slow)):
        assert torch.allclose(g_fast, g_slow, rtol=1e-9, atol=1e-12)


def test_perturb_clamps_and_shapes():
    x = batch()
    gen = torch.Generator().manual_seed(0)
    by_channel = perturb(x, 4, 2.0, gen, "data_range", LO, HI)
    assert by_channel.shape == (4, *x.shape)
    assert (by_channel >= LO.view(3, 1, 1)).all() and (by_channel <= HI.view(3, 1, 1)).all()
    by_batch = perturb(x, 4, 2.0, gen, "batch")
    assert by_batch.min() >= x.min() and by_batch.max() <= x.max()
    assert perturb(x, 4, 2.0, gen, "none").abs().max() > x.abs().max()


@pytest.mark.parametrize("accumulate", [True, False])
def test_gradient_accumulation_across_batches(accumulate):
    model, eta, n, sigma, seed = tiny(), 0.05, 3, 0.4, 7
    x1, x2 = batch(4, seed=1), batch(3, seed=2)
    options = JitOptions(sigma=sigma, eta=eta, n_samples=n, clamp="batch", seed=seed,
                         accumulate_grads=accumulate)
    expected = copy.deepcopy(model)
    noise1, noise2 = noise_of(seed, (n, *x1.shape), (n, *x2.shape))
    g1 = grads(expected, literal_loss(expected, x1, noise1, sigma, "batch", "sum"))
    with torch.no_grad():
        for p, g in zip(expected.parameters(), g1):
            p -= eta * g  # θ1 = θ0 − η∇L1(θ0)
    g2 = grads(expected, literal_loss(expected, x2, noise2, sigma, "batch", "sum"))
    with torch.no_grad():
        for p, a, b in zip(expected.parameters(), g1, g2):
            p -= eta * (a + b) if accumulate else eta * b  # published: .grad keeps ∇L1

    stats = lipschitz_forgetting(model, [(x1, None), (x2, None)], "cpu", options)
    assert stats["n_steps"] == 2 and stats["n_images"] == 7
    for got, want in zip(model.parameters(), expected.parameters()):
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-12)


def test_one_step_lowers_the_objective_it_descends():
    # The step follows the stop-gradient objective: clean outputs move toward FIXED noisy ones.
    model, x, n, sigma, seed = tiny(), batch(), 4, 0.5, 11
    x_noisy = perturb(x, n, sigma, torch.Generator().manual_seed(seed), "none")
    with torch.no_grad():
        targets = model(x_noisy.flatten(0, 1)).view(n, len(x), -1)
    in_norm = (x.unsqueeze(0) - x_noisy).flatten(2).norm(dim=2)

    def objective():
        with torch.no_grad():
            return ((model(x).unsqueeze(0) - targets).norm(dim=2) / in_norm).sum(1).mean()

    before = objective()
    assert torch.allclose(before, lipschitz_penalty(model, x, x_noisy).detach())
    options = JitOptions(sigma=sigma, eta=1e-3, n_samples=n, clamp="none", seed=seed)
    lipschitz_forgetting(model, [(x, None)], "cpu", options)
    assert objective() < before


@pytest.mark.parametrize("train_mode", [False, True])
def test_train_mode_is_honoured(train_mode):
    model = tiny(dropout=0.5)
    options = JitOptions(sigma=1e-4, eta=1e-6, n_samples=3, clamp="none", train_mode=train_mode)
    stats = lipschitz_forgetting(model, [(batch(), None)], "cpu", options)
    assert set(model.modes) == {train_mode} and model.training == train_mode
    # eval: outputs of nearby inputs are close (ratio ~ local slope, O(1));
    # train: independent dropout masks dominate the tiny input distance.
    assert (stats["loss_first"] > 1e3) == train_mode


def test_batchnorm_in_train_mode_matches_per_repetition_forwards():
    model, x, n, sigma = tiny(batchnorm=True), batch(), 4, 0.5
    model.train()
    literal_model = copy.deepcopy(model)
    x_noisy = perturb(x, n, sigma, torch.Generator().manual_seed(5), "batch")
    (noise,) = noise_of(5, (n, *x.shape))
    fast = lipschitz_penalty(model, x, x_noisy, chunk_size=1000)
    slow = literal_loss(literal_model, x, noise, sigma, "batch", "sum")
    assert torch.allclose(fast, slow, rtol=1e-10, atol=0)
    assert torch.allclose(model.norm.running_mean, literal_model.norm.running_mean)


def test_chunking_does_not_change_loss_or_gradients():
    model, x = tiny(), batch(5)
    x_noisy = perturb(x, 6, 0.5, torch.Generator().manual_seed(2), "data_range", LO, HI)
    whole = lipschitz_penalty(model, x, x_noisy, chunk_size=10_000)
    g_whole = grads(model, whole)
    for chunk in (0, 1, 4, 7):
        part = lipschitz_penalty(model, x, x_noisy, chunk_size=chunk)
        assert torch.allclose(part, whole, rtol=1e-12, atol=0)
        for a, b in zip(grads(model, part), g_whole):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)


def test_noise_drawn_in_parts_equals_one_draw():
    x = torch.randn(3, 3, 5, 5)  # 225 values per repetition: not a multiple of 16
    whole = perturb(x, 5, 0.5, torch.Generator().manual_seed(4), "none")
    gen = torch.Generator().manual_seed(4)
    parts = [perturb(x, count, 0.5, gen, "none") for count in (2, 1, 2)]
    assert torch.equal(torch.cat(parts), whole)


def test_penalty_draws_chunks_lazily_and_frees_each_before_the_next():
    model, x = tiny(), batch(5)
    x_noisy = perturb(x, 6, 0.5, torch.Generator().manual_seed(2), "data_range", LO, HI)
    alive_when_drawn, previous = [], []

    def chunks():
        for part in x_noisy.split(2):
            alive_when_drawn.append(sum(ref() is not None for ref in previous))
            chunk = part.clone()
            previous.append(weakref.ref(chunk))
            yield chunk
            del chunk

    lazy = lipschitz_penalty(model, x, chunks())
    assert alive_when_drawn == [0, 0, 0]
    assert torch.allclose(lazy, lipschitz_penalty(model, x, x_noisy), rtol=1e-12, atol=0)


def test_chunk_size_rounds_down_to_whole_repetitions():
    model, x = tiny(), batch(5)
    assert repetitions_per_forward(model, x, 6, chunk_size=0) == 1  # CPU auto: one repetition
    assert repetitions_per_forward(model, x, 6, chunk_size=14) == 2
    assert repetitions_per_forward(model, x, 6, chunk_size=3) == 1
    assert repetitions_per_forward(model, x, 6, chunk_size=1000) == 6


def test_same_seed_same_weights():
    def run(seed):
        model = tiny()
        options = JitOptions(sigma=0.5, eta=0.1, n_samples=3, clamp="data_range", seed=seed)
        lipschitz_forgetting(model, [(batch(4, s), 0) for s in range(3)], "cpu", options,
                             valid_range=(LO, HI))
        return [p.detach().clone() for p in model.parameters()]

    first, again, other = run(0), run(0), run(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_reference_options_are_the_published_form():
    options = JitOptions.reference(0.5, 3e-4, 25)
    assert (options.accumulate_grads, options.clamp, options.train_mode, options.reduction) == (
        True, "batch", True, "sum")
    default = JitOptions(sigma=0.5, eta=3e-4)
    assert (default.accumulate_grads, default.clamp, default.train_mode, default.n_samples) == (
        False, "data_range", False, 25)


@pytest.mark.parametrize("bad", [dict(sigma=0.0), dict(sigma=-1.0), dict(eta=0.0),
                                 dict(eta=-0.1), dict(n_samples=0), dict(clamp="box"),
                                 dict(reduction="max"), dict(sigma=float("nan"))])
def test_invalid_options_raise_usage_error(bad):
    with pytest.raises(UsageError):
        JitOptions(**{"sigma": 0.5, "eta": 0.1, **bad})


def test_data_range_clamp_needs_valid_range():
    with pytest.raises(UsageError, match="valid"):
        lipschitz_forgetting(tiny(), [(batch(), 0)], "cpu", JitOptions(sigma=0.5, eta=0.1))


def test_non_finite_loss_raises_before_the_step():
    model = tiny()
    model.head.register_forward_hook(lambda module, inputs, out: out * float("nan"))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(DivergedError, match="non-finite at batch 0"):
        lipschitz_forgetting(model, [(batch(), 0)], "cpu", JitOptions.reference(0.5, 0.1, 2))
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before))


def test_zero_input_distance_raises():
    model, x = tiny(), batch(3)
    with pytest.raises(UsageError, match="zero distance"):
        lipschitz_penalty(model, x, x.unsqueeze(0).repeat(2, 1, 1, 1, 1))
    constant = torch.full((2, *SHAPE), 0.3, dtype=torch.float64)  # batch clamp: lo == hi
    with pytest.raises(UsageError, match="zero distance"):
        lipschitz_forgetting(model, [(constant, 0)], "cpu", JitOptions.reference(0.5, 0.1, 2))
