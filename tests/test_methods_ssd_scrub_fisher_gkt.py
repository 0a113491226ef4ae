"""SSD, SCRUB, Fisher forgetting and GKT on a tiny model and data set."""

import copy
import logging

import pytest
import torch
import torch.nn.functional as F

from models import build_model
from models.vit import tiny_vit_config
from tests.method_fixtures import (
    NUM_CLASSES,
    accuracy_on,
    task_defaults,
    tiny_method_data,
    trained_tiny_method_data,
)
from tests.model_checks import changed, finite, weights, zero_shot
from unlearn.methods.fisher import (
    fisher_accumulators,
    fisher_accumulators_batch1,
    fisher_forgetting,
)
from unlearn.methods.gkt import gkt
from unlearn.methods.scrub import distill_kl, scrub, scrub_phases
from unlearn.methods.ssd import RETAIN_THEN_FORGET, SHUFFLED, full_training_batches, ssd_tuning

CPU = torch.device("cpu")


# SSD ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["full_class", "sub_class"])
def test_ssd_only_shrinks_parameters(task):
    model, data = tiny_method_data("ssd_tuning", task=task)
    before = weights(model)
    out = ssd_tuning(model, data, CPU, **task_defaults("ssd_tuning", task)
                     | dict(dampening_constant=1.0, selection_weighting=1.0))
    assert out is model and finite(model)
    assert changed(before, model)
    for name, p in model.named_parameters():
        assert (p.abs() <= before[name].abs()).all(), name
        # scaled by a factor in [0, 1]: the sign never flips
        assert (p * before[name] >= 0).all(), name


@pytest.mark.parametrize("options", [dict(dampening_constant=1e12, selection_weighting=1.0),
                                     dict(dampening_constant=1.0, selection_weighting=1e12)])
def test_ssd_changes_nothing_with_huge_lambda_or_alpha(options):
    model, data = tiny_method_data("ssd_tuning")
    before = weights(model)
    ssd_tuning(model, data, CPU, **task_defaults("ssd_tuning", "full_class") | options)
    assert not changed(before, model)


def test_ssd_full_set_batches_run_across_the_retain_forget_boundary():
    _, data = tiny_method_data("ssd_tuning", task="sub_class")
    batches = list(full_training_batches(data, RETAIN_THEN_FORGET, 16))
    assert [len(y) for _, y in batches] == [16, 16, 16, 12]  # 40 retain + 20 forget
    expected_x = torch.cat([x for x, _ in data.retain(batch_size=7)]
                           + [x for x, _ in data.forget(batch_size=7)])
    assert torch.equal(torch.cat([x for x, _ in batches]), expected_x)
    assert torch.equal(batches[2][1], torch.tensor([2] * 8 + [0] * 8))  # last retain, first forget
    shuffled = list(full_training_batches(data, SHUFFLED, 16))
    labels = torch.cat([y for _, y in shuffled])
    assert sorted(labels.tolist()) == sorted(torch.cat([data.forget_labels(),
                                                        data.retain_labels()]).tolist())


# SCRUB ----------------------------------------------------------------------------------------

def test_scrub_max_steps_only_in_the_first_two_epochs():
    assert scrub_phases(3, 2) == [(1, "forget"), (1, "retain"), (2, "forget"), (2, "retain"),
                                  (3, "retain")]
    assert scrub_phases(2, 0) == [(1, "retain"), (2, "retain")]


def test_distill_kl_is_per_sample_mean_times_t_squared():
    student, teacher = torch.randn(5, 3), torch.randn(5, 3)
    t = 4.0
    p_t = F.softmax(teacher / t, dim=1)
    per_sample = (p_t * (p_t.log() - F.log_softmax(student / t, dim=1))).sum(1)
    assert torch.allclose(distill_kl(student, teacher, t), per_sample.mean() * t**2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scrub_forgets_the_class_and_keeps_the_rest(seed):
    """On the trained tiny CNN (forget and retain accuracy 100 %), SCRUB with the declared
    α, γ and clipping and a faster schedule than published (lr 0.01, 5 epochs, 3 max-steps:
    the published lr 5e-4 barely moves a model this small) takes the forgotten class to
    chance or below and keeps every retained image, for each seed (measured: 0 % and 100 %)."""
    model, data = trained_tiny_method_data("scrub", seed=seed)
    out = scrub(model, data, CPU, **task_defaults("scrub", "full_class")
                | dict(lr=0.01, epochs=5, max_steps=3))
    assert out is model  # in place
    assert accuracy_on(model, data, "forget") <= 100 / NUM_CLASSES  # forgets
    assert accuracy_on(model, data, "retain") >= 90.0  # keeps


# Fisher ---------------------------------------------------------------------------------------

def test_fisher_vectorised_accumulators_equal_the_batch1_loop():
    model, data = tiny_method_data("FisherForgetting", task="sub_class")
    model.eval()
    subset = torch.arange(0, 40, 3)  # 14 retain samples keep the literal loop quick
    literal = fisher_accumulators_batch1(model, data.retain(subset=subset, batch_size=1),
                                         data.num_classes, CPU)
    vectorised = fisher_accumulators(model, data.retain(subset=subset, batch_size=5),
                                     data.num_classes, CPU)
    for ours, reference in zip(vectorised, literal):
        for name, value in reference.items():
            scale = value.abs().max()
            assert scale > 0, name
            # equal up to float32 rounding (different summation order)
            assert (ours[name] - value).abs().max() <= 1e-5 * scale, name


def test_fisher_forgetting_full_class_noises_weights_and_clears_the_forget_row():
    model, data = tiny_method_data("FisherForgetting", forget_class=1)
    before = weights(model)
    twin = copy.deepcopy(model)
    fisher_forgetting(model, data, CPU)
    fisher_forgetting(twin, data, CPU)
    assert finite(model) and changed(before, model)
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        assert torch.equal(p, q), name  # seeded noise: the same result twice
    head = model.classifier[-1]
    # μ = 0 and std sqrt(1e-4 · 10) ≈ 0.03 for the forgotten class's row
    assert head.weight[1].abs().max() < 0.2
    assert not torch.equal(head.weight[0], before["classifier.3.weight"][0])


# GKT ------------------------------------------------------------------------------------------

SMALL_GKT = dict(batch_size=4, n_generator_iter=1, n_student_iter=2, n_pseudo_batches=3)


def test_gkt_trains_a_student_without_touching_data():
    model, data = tiny_method_data("gkt")
    data = zero_shot(data)  # any read of data fails the test
    before = weights(model)
    student = gkt(model, data, CPU, threshold=1.0, **SMALL_GKT)
    assert student is not model and finite(student)
    assert not changed(before, model)  # the teacher is only read (eval mode, no batch-norm)
    assert all(p.requires_grad for p in model.parameters())
    assert changed(before, student)


def test_gkt_teacher_train_mode_leaves_the_model_alone():
    """The published train-mode teacher moves batch-norm statistics: of a copy, not of the
    model passed in."""
    model, data = tiny_method_data("gkt")
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gkt(model, zero_shot(data), CPU, threshold=1.0, teacher_train_mode=True, **SMALL_GKT)
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("channels_last", [False, True])
def test_gkt_reuses_the_student_steps_inputs_without_changing_the_result(
        monkeypatch, channels_last):
    """The generator's images and the fixed teacher's outputs are the same at every student
    step of a pseudo batch: computed once, the student comes out bit for bit as with the
    published recomputation, after fewer generator forwards."""
    from unlearn.methods import gkt as module

    generators = []
    real = module.PseudoImageGenerator

    def recorded(*args):
        generators.append(real(*args))
        generators[-1].calls = count_calls(generators[-1])
        return generators[-1]

    monkeypatch.setattr(module, "PseudoImageGenerator", recorded)
    settings = dict(SMALL_GKT, n_student_iter=4, threshold=1.0, channels_last=channels_last)
    students = []
    for recompute in (True, False):
        model, data = tiny_method_data("gkt")
        students.append(gkt(model, zero_shot(data), CPU, recompute=recompute, **settings))
    published, reused = students
    assert all(torch.equal(a, b) for a, b in zip(published.state_dict().values(),
                                                 reused.state_dict().values()))
    # per pseudo batch: 1 + 4 forwards recomputed; 1 (generator step) + 1 (student steps)
    assert [g.calls[0] for g in generators] == [3 * 5, 3 * 2]
    assert all(p.is_contiguous() for p in reused.parameters())  # handed back in plain memory


def test_gkt_stops_when_the_gate_rejects_everything(caplog):
    model, data = tiny_method_data("gkt")
    with caplog.at_level(logging.WARNING, logger="unlearn.methods.gkt"):
        student = gkt(model, zero_shot(data), CPU, threshold=-1.0, max_empty=3, **SMALL_GKT)
    assert finite(student)
    assert "stopped early" in caplog.text


def test_gkt_is_full_class_only():
    from unlearn.errors import UsageError

    model, data = tiny_method_data("gkt", task="random")
    with pytest.raises(UsageError):
        gkt(model, zero_shot(data), CPU, **SMALL_GKT)


def test_gkt_runs_on_a_tiny_vit():
    model, data = tiny_method_data("gkt")
    torch.manual_seed(0)
    vit = build_model("ViT", 3, config=tiny_vit_config(32))
    patch = vit.base.embeddings.patch_embeddings.projection.weight.detach().clone()
    student = gkt(vit, zero_shot(data), CPU, threshold=1.0, batch_size=2, n_generator_iter=1,
                  n_student_iter=1, n_pseudo_batches=2)
    assert finite(student)
    assert not torch.equal(student.base.embeddings.patch_embeddings.projection.weight, patch)


# forward_with_activations ---------------------------------------------------------------------

@pytest.mark.parametrize("name, options, count", [
    ("CNN", {}, 3),
    ("ResNet18", {}, 4),
    ("ViT", {"config": tiny_vit_config(32)}, 2),
    ("VGG16", {}, 8 + 3),
])
def test_forward_with_activations_gives_the_real_logits(name, options, count):
    torch.manual_seed(0)
    model = build_model(name, 3, **options).eval()
    x = torch.randn(2, 3, model.input_size, model.input_size)
    with torch.no_grad():
        logits, activations = model.forward_with_activations(x)
        expected = model(x)
    assert torch.allclose(logits, expected, atol=1e-6)
    assert len(activations) == count
    assert all(a.shape[0] == 2 for a in activations)
    if name == "VGG16":  # recorded after the ReLU that follows each conv / first two Linears
        assert all((a >= 0).all() for a in activations[:10])


def test_gkt_kl_is_the_elementwise_mean():
    from unlearn.methods.gkt import kl_mean

    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    p_t = F.softmax(teacher, dim=1)
    elementwise = p_t * (p_t.log() - F.log_softmax(student, dim=1))
    assert torch.allclose(kl_mean(student, teacher), elementwise.mean())
