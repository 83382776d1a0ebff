"""Controlled checks of the logconf and product losses: each test builds a case whose answer is known
by hand (a coefficient schedule, a class count, a closed-form loss and gradient, a training outcome)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from w2s_bench.errors import W2SError
from w2s_bench.methods import METHODS
from w2s_bench.methods.logconf import logconf
from w2s_bench.methods.losses import ConfidenceLoss, ProductLoss, hard_predictions, product_targets
from w2s_bench.methods.product import product
from w2s_bench.train import TrainConfig, soft_cross_entropy, train_loop

CPU = torch.device("cpu")


def manual_soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft cross-entropy written out with an explicit log-sum-exp, independent of the code under test."""
    log_z = logits.max(dim=1, keepdim=True).values
    log_z = log_z + (logits - log_z).exp().sum(dim=1, keepdim=True).log()
    return -(target * (logits - log_z)).sum(dim=1).mean()


def train_linear(features: torch.Tensor, targets: np.ndarray, loss, config: TrainConfig, seed: int = 0) -> torch.nn.Linear:
    """A linear classifier on fixed features, trained by the real training loop."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(features.shape[1], targets.shape[1])
    train_loop(model, lambda module, idx: module(features[idx]), [1] * len(features), targets, config, loss, None, CPU, "test")
    return model


# ---------------------------------------------------------------- logconf: coefficient schedule


@pytest.mark.parametrize("progress, expected", [(0.0, 0.0), (0.05, 0.1875), (0.1, 0.375), (0.2, 0.75), (0.5, 0.75),
                                                (1.0, 0.75)])
def test_logconf_coefficient_ramps_linearly(progress: float, expected: float) -> None:
    assert ConfidenceLoss(0.75, 0.2).coefficient(progress) == pytest.approx(expected, abs=1e-12)


def test_logconf_zero_warmup_is_full_weight_at_once() -> None:
    assert ConfidenceLoss(0.5, 0.0).coefficient(0.0) == 0.5


def test_logconf_coefficient_per_step_in_the_training_loop() -> None:
    """Through train_loop: the progress each step passes, and the coefficient actually used (recovered from
    the loss value, which is linear in it), follow alpha_max * min(1, (step-1)/total/warmup) with no jump."""
    alpha_max, warmup, n, batch, epochs = 0.75, 0.2, 40, 8, 4
    total = math.ceil(n / batch) * epochs  # 20 steps: warm-up covers steps 1..5
    inner = ConfidenceLoss(alpha_max, warmup)
    seen: list[tuple[float, float, float]] = []  # (progress, coefficient(), coefficient recovered from the loss)

    def recording_loss(logits: torch.Tensor, targets: torch.Tensor, progress: float) -> torch.Tensor:
        value = inner(logits, targets, progress)
        ce_weak = manual_soft_ce(logits.detach(), targets)
        ce_hard = manual_soft_ce(logits.detach(), hard_predictions(logits, targets))
        seen.append((progress, inner.coefficient(progress), ((value.detach() - ce_weak) / (ce_hard - ce_weak)).item()))
        return value

    rng = np.random.default_rng(0)
    features = torch.as_tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    p1 = rng.uniform(0.2, 0.8, size=n)
    targets = np.stack([1 - p1, p1], axis=1)
    train_linear(features, targets, recording_loss, TrainConfig(epochs=epochs, batch_size=batch, lr=0.01, early_stopping=False))

    assert len(seen) == total
    expected = [alpha_max * min(1.0, (step - 1) / total / warmup) for step in range(1, total + 1)]
    assert [p for p, _, _ in seen] == [(step - 1) / total for step in range(1, total + 1)]
    assert [c for _, c, _ in seen] == pytest.approx(expected, abs=1e-12)
    assert [r for _, _, r in seen] == pytest.approx(expected, abs=1e-3)
    coefficients = [c for _, c, _ in seen]
    assert coefficients[0] == 0.0 and coefficients[int(warmup * total)] == pytest.approx(alpha_max)
    steps = np.diff(coefficients)
    assert (steps >= -1e-12).all() and steps.max() <= alpha_max / (warmup * total) + 1e-9  # no jump


# ---------------------------------------------------------------- logconf: hard targets


@pytest.mark.parametrize("bias", [6.0, -6.0, 0.0])
def test_hard_predictions_match_weak_class_balance(bias: float) -> None:
    """30% weak mass on class 1 -> exactly 6 of 20 hard labels are class 1, the 6 with the highest student
    p(class 1), however badly calibrated the student is (all logits pushed to one class)."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.stack([torch.zeros(20), bias + torch.randn(20, generator=gen)], dim=1)
    p1 = torch.tensor([0.1, 0.5] * 10)  # mean 0.3, no row above 0.5: argmax of weak would give 0 positives
    hard = hard_predictions(logits, torch.stack([1 - p1, p1], dim=1))
    assert hard.sum(dim=1).eq(1).all()
    assert int(hard[:, 1].sum()) == 6
    assert set(torch.nonzero(hard[:, 1]).flatten().tolist()) == set(torch.topk(logits[:, 1], 6).indices.tolist())


def test_hard_predictions_use_argmax_beyond_two_classes() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0], [0.0, 0.0, 5.0], [0.0, 0.1, 0.0]])
    weak = torch.full((4, 3), 1 / 3)
    assert hard_predictions(logits, weak).argmax(dim=1).tolist() == [1, 0, 2, 1]


def test_logconf_loss_and_gradient_equal_hand_computation_with_constant_target() -> None:
    gen = torch.Generator().manual_seed(1)
    raw = torch.randn(10, 2, generator=gen) * 2
    p1 = torch.rand(10, generator=gen) * 0.6  # mean weak p(class 1) well below 0.5
    weak = torch.stack([1 - p1, p1], dim=1)
    alpha = 0.75 * 0.1 / 0.2  # progress 0.1 with warm-up 0.2

    # independent target: the k = round(n * mean p1) rows with the largest p(class 1) are class 1
    probs1 = torch.softmax(raw, dim=1)[:, 1].numpy()
    k = int(np.floor(10 * p1.mean().item() + 0.5))
    hard = np.zeros((10, 2), dtype=np.float32)
    hard[:, 0] = 1
    hard[np.argsort(-probs1)[:k]] = [0, 1]
    target = (1 - alpha) * weak + alpha * torch.as_tensor(hard)  # a constant: no graph

    logits = raw.clone().requires_grad_(True)
    value = ConfidenceLoss(0.75, 0.2)(logits, weak, 0.1)
    value.backward()
    reference = raw.clone().requires_grad_(True)
    expected = manual_soft_ce(reference, target)
    expected.backward()

    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.allclose(logits.grad, reference.grad, atol=1e-7)
    # closed form for a constant target: d/dlogits mean CE = (softmax - target) / n
    assert torch.allclose(logits.grad, (torch.softmax(raw, dim=1) - target) / 10, atol=1e-7)


def test_logconf_makes_an_underconfident_supervisor_confident() -> None:
    """Separable data, weak labels always right but only 60% sure: naive soft CE learns ~0.6 confidence,
    logconf learns to be confident (it trusts its own hard predictions) and stays accurate."""
    rng = np.random.default_rng(0)
    n, d = 256, 5
    y = rng.integers(0, 2, size=n)
    direction = np.zeros(d)
    direction[0] = 3.0
    x = rng.normal(size=(n, d)) + np.where(y[:, None] == 1, direction, -direction)
    features = torch.as_tensor(x, dtype=torch.float32)
    weak = np.where(y[:, None] == 1, [0.4, 0.6], [0.6, 0.4]).astype(np.float32)
    config = TrainConfig(epochs=8, batch_size=32, lr=0.1, early_stopping=False)

    results = {}
    for name, loss in [("naive", None), ("logconf", ConfidenceLoss(0.75, 0.2))]:
        model = train_linear(features, weak, loss, config)
        with torch.no_grad():
            probs = torch.softmax(model(features), dim=1).numpy()
        results[name] = (probs.max(axis=1).mean(), (probs.argmax(axis=1) == y).mean())

    (naive_conf, naive_acc), (conf, acc) = results["naive"], results["logconf"]
    assert naive_conf < 0.65 and naive_acc > 0.95  # naive imitates the supervisor's 0.6 (measured: 0.59)
    assert conf > 0.8 and conf > naive_conf + 0.2 and acc > 0.95  # measured: 0.86 over 5 seeds 0.84-0.86


# ---------------------------------------------------------------- registration and validation


def test_logconf_registered_with_keyword_parameters() -> None:
    method = METHODS["logconf"](alpha_max=0.5)
    assert method.name == "logconf" and method.params == {"alpha_max": 0.5, "warmup_fraction": 0.2}
    loss = method.loss()
    assert isinstance(loss, ConfidenceLoss) and loss.coefficient(0.1) == pytest.approx(0.25)
    assert METHODS["logconf"]().params == {"alpha_max": 0.75, "warmup_fraction": 0.2}


@pytest.mark.parametrize("kwargs", [{"alpha_max": 1.5}, {"alpha_max": -0.1}, {"warmup_fraction": 2.0},
                                    {"alpha_max": float("nan")}, {"warmup_fraction": "soon"}])
def test_logconf_rejects_out_of_range_parameters(kwargs: dict) -> None:
    with pytest.raises(W2SError) as error:
        logconf(**kwargs)
    assert error.value.where == "--methods logconf" and next(iter(kwargs)) in error.value.what and error.value.fix


# ---------------------------------------------------------------- product


def test_product_alpha_one_is_naive_soft_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(2)
    raw = torch.randn(8, 3, generator=gen)
    weak = torch.softmax(torch.randn(8, 3, generator=gen), dim=1)
    weak[:4] = torch.eye(3)[[0, 1, 2, 0]]  # exact zeros exercise the log(0) guard
    a, b = raw.clone().requires_grad_(True), raw.clone().requires_grad_(True)
    value, naive = ProductLoss(1.0)(a, weak, 0.0), soft_cross_entropy(b, weak)
    value.backward()
    naive.backward()
    assert value.item() == pytest.approx(naive.item(), rel=1e-6)
    assert torch.allclose(a.grad, b.grad, atol=1e-7)


def test_product_half_is_normalised_geometric_mean() -> None:
    gen = torch.Generator().manual_seed(3)
    raw = torch.randn(6, 4, generator=gen) * 3
    weak = torch.softmax(torch.randn(6, 4, generator=gen), dim=1)
    weak[0] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    strong = torch.softmax(raw, dim=1).double().numpy()
    geometric = np.sqrt(weak.double().numpy() * strong)
    expected = geometric / geometric.sum(axis=1, keepdims=True)
    target = product_targets(raw, weak, 0.5)
    assert np.allclose(target.numpy(), expected, atol=1e-6)
    assert target[0].tolist() == pytest.approx([0.0, 1.0, 0.0, 0.0], abs=1e-12)

    logits = raw.clone().requires_grad_(True)
    value = ProductLoss(0.5)(logits, weak)
    value.backward()  # the target is constant: gradient is (softmax - target) / n
    assert torch.allclose(logits.grad, (torch.softmax(raw, dim=1) - target) / 6, atol=1e-6)
    assert value.item() == pytest.approx(manual_soft_ce(raw, torch.as_tensor(expected, dtype=torch.float32)).item(), rel=1e-5)


@pytest.mark.parametrize("alpha", [-0.5, 1.01, float("nan"), "half", None])
def test_product_rejects_bad_alpha(alpha: object) -> None:
    with pytest.raises(W2SError) as error:
        product(alpha=alpha)  # type: ignore[arg-type]
    assert error.value.where == "--methods product" and "alpha" in error.value.what


def test_product_registered_with_keyword_parameters() -> None:
    method = METHODS["product"](alpha=0.25)
    assert method.params == {"alpha": 0.25} and isinstance(method.loss(), ProductLoss)
    assert method.loss().alpha == 0.25 and METHODS["product"]().params == {"alpha": 0.5}


def test_naive_temperature_sharpens_labels_and_zero_is_hard() -> None:
    from w2s_bench.methods import get_method

    weak = np.array([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    assert np.array_equal(get_method("naive").targets(weak), weak)
    assert np.array_equal(get_method("naive(temperature=0)").targets(weak), get_method("naive_hard").targets(weak))
    sharpened = get_method("naive(temperature=0.5)").targets(weak)
    expected = weak**2 / (weak**2).sum(axis=1, keepdims=True)  # T = 0.5: p^2, renormalised
    assert np.allclose(sharpened, expected) and sharpened[0, 0] > 0.6 and np.allclose(sharpened[2], 0.5)
    with pytest.raises(W2SError, match="temperature"):
        get_method("naive(temperature=-1)")
