"""Tests of e2e_tutorial.models.FCN: architecture (seminar Figure 9), output convention
(signal first, logits -> softmax Eq. 3), the seminar weight layout, and shape errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from e2e_tutorial import metrics
from e2e_tutorial.models import FCN


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tensors here are tiny: one thread is fastest, and it avoids torch's threads
    spinning against each other on a busy 2-core machine. Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def model() -> FCN:
    torch.manual_seed(0)
    return FCN(5)


def test_default_architecture_and_layer_shapes(model):
    assert model.layer_shapes() == [(5, 64), (64, 64), (64, 2)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == model.layer_shapes()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == (5 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2)


@pytest.mark.parametrize(
    "hidden, n_classes, shapes",
    [
        ((), 2, [(4, 2)]),
        ((10,), 3, [(4, 10), (10, 3)]),
        ((8, 6, 4), 3, [(4, 8), (8, 6), (6, 4), (4, 3)]),
    ],
)
def test_custom_architectures(hidden, n_classes, shapes):
    m = FCN(4, hidden=hidden, n_classes=n_classes)
    assert m.layer_shapes() == shapes
    assert m(torch.zeros(7, 4)).shape == (7, n_classes)


def test_forward_is_relu_network_in_seminar_notation(model):
    """Recompute the forward pass by hand from seminar_parameters: a = ReLU(W^T a_prev + b)."""
    x = torch.randn(11, 5, generator=torch.Generator().manual_seed(1))
    a = x.numpy().astype(np.float64)
    params = model.seminar_parameters()
    for k, (W, b) in enumerate(params):
        assert W.shape == model.layer_shapes()[k]
        z = np.stack([W.T @ row + b for row in a])  # one instance at a time, as in Eq. 2
        a = np.maximum(z, 0.0) if k < len(params) - 1 else z
    np.testing.assert_allclose(model(x).detach().numpy(), a, rtol=1e-5, atol=1e-6)


def test_seminar_parameters_are_transposed_copies(model):
    W, b = model.seminar_parameters()[0]
    np.testing.assert_array_equal(W, model.layers[0].weight.detach().numpy().T)
    W[0, 0] += 1.0  # a copy: the model is unchanged
    assert model.seminar_parameters()[0][0][0, 0] != W[0, 0]


def test_predict_proba_and_signal_score(model):
    x = np.random.default_rng(2).normal(size=(9, 5))
    proba = model.predict_proba(x)  # numpy in, numpy out
    assert isinstance(proba, np.ndarray) and proba.shape == (9, 2)
    ref = torch.softmax(model(torch.as_tensor(x, dtype=torch.float32)), dim=1).detach().numpy()
    np.testing.assert_allclose(proba, ref, rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.signal_score(x), proba[:, 0])
    np.testing.assert_allclose(model.predict_proba(torch.as_tensor(x)), proba, rtol=1e-6)


@pytest.mark.parametrize(
    "shape",
    [(32, 4), (32, 6), (5,), (2, 5, 1), (5, 32)],
)
def test_wrong_input_shape_raises_with_both_shapes(model, shape):
    expected = f"FCN expects input of shape (batch, 5); got {shape}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        model(torch.zeros(shape))
    with pytest.raises(ValueError, match=re.escape(expected)):
        model.predict_proba(np.zeros(shape))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_features": 0}, "n_features must be an integer >= 1; got 0"),
        ({"n_features": 5, "hidden": (64, 0)}, r"hidden must be .* integers >= 1; got \(64, 0\)"),
        ({"n_features": 5, "n_classes": 1}, "n_classes must be an integer >= 2; got 1"),
    ],
)
def test_bad_construction_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FCN(**kwargs)


def test_trained_fcn_puts_signal_in_column_zero():
    """Train briefly with integer targets 0 = signal: the signal score then separates the
    classes in the direction metrics expects (AUC near 1, not near 0)."""
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(4)
    n = 512
    labels = torch.randint(0, 2, (n,), generator=gen)
    x = torch.randn(n, 5, generator=gen) + torch.where(labels == 0, 1.0, -1.0)[:, None]
    model = FCN(5, hidden=(16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        opt.step()
    score = model.signal_score(x)
    assert score[labels.numpy() == 0].mean() > 0.9
    assert metrics.auc(labels.numpy(), score) > 0.97
