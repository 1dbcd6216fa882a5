"""Tests of e2e_tutorial.numpy_nn against torch (an independent implementation, float64):
values of softmax, cross-entropy and a dense layer, gradients by autograd, and a torch twin of
NumpyFCN trained side by side."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from e2e_tutorial import numpy_nn as nn_
from e2e_tutorial.models import FCN

TOL = 1e-10
RNG_SEED = 20210502


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def t64(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[labels]


# --------------------------------------------------------------------------- activations


def test_relu_and_its_derivative_on_known_values():
    z = np.array([-2.0, -0.0, 0.0, 1e-300, 3.5])
    np.testing.assert_array_equal(nn_.relu(z), [0.0, 0.0, 0.0, 1e-300, 3.5])
    np.testing.assert_array_equal(nn_.relu_grad(z), [0.0, 0.0, 0.0, 1.0, 1.0])


def test_relu_grad_matches_torch_autograd(rng):
    z = t64(rng.normal(size=50)).requires_grad_()
    torch.relu(z).sum().backward()
    np.testing.assert_array_equal(nn_.relu_grad(z.detach().numpy()), z.grad.numpy())


def test_softmax_matches_torch_single_and_batch(rng):
    z = rng.normal(0.0, 3.0, size=(64, 3))
    ref = torch.softmax(t64(z), dim=1).numpy()
    np.testing.assert_allclose(nn_.softmax(z), ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(nn_.softmax(z[7]), ref[7], rtol=0, atol=1e-15)
    np.testing.assert_allclose(nn_.softmax(z).sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_softmax_known_value_and_stability():
    # sigma(0, ln 3) = (1/4, 3/4); adding a constant leaves softmax unchanged (Eq. 3)
    np.testing.assert_allclose(nn_.softmax([0.0, np.log(3.0)]), [0.25, 0.75], rtol=1e-15)
    shifted = nn_.softmax([1000.0, 1000.0 + np.log(3.0)])
    np.testing.assert_allclose(shifted, [0.25, 0.75], rtol=1e-12)
    assert np.all(np.isfinite(nn_.softmax([[1e4, -1e4, 0.0]])))


def test_softmax_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(C,\) or \(M, C\); got shape \(2, 2, 2\)"):
        nn_.softmax(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="z must be finite"):
        nn_.softmax([0.0, np.nan])


def test_softmax_jacobian_matches_torch(rng):
    z = rng.normal(size=4)
    ref = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, dim=0), t64(z)).numpy()
    np.testing.assert_allclose(nn_.softmax_jacobian(z), ref, rtol=0, atol=TOL)
    batch = rng.normal(size=(5, 3))
    jac = nn_.softmax_jacobian(batch)
    assert jac.shape == (5, 3, 3)
    for m in range(5):
        ref_m = torch.autograd.functional.jacobian(
            lambda v: torch.softmax(v, dim=0), t64(batch[m])
        ).numpy()
        np.testing.assert_allclose(jac[m], ref_m, rtol=0, atol=TOL)


# --------------------------------------------------------------------------- loss


def test_cross_entropy_matches_torch(rng):
    z = rng.normal(0.0, 2.0, size=(100, 3))
    labels = rng.integers(0, 3, size=100)
    y_hat, y = nn_.softmax(z), onehot(labels, 3)
    ref = F.cross_entropy(t64(z), torch.tensor(labels), reduction="none").numpy()
    np.testing.assert_allclose(nn_.cross_entropy(y_hat, y), ref, rtol=1e-12, atol=TOL)
    ref_mean = F.cross_entropy(t64(z), torch.tensor(labels)).item()  # Eq. 8: batch mean
    assert nn_.minibatch_loss(y_hat, y) == pytest.approx(ref_mean, rel=1e-12)


def test_cross_entropy_known_values():
    # signal event (1, 0) predicted (0.8, 0.2): L = -ln 0.8
    assert nn_.cross_entropy([0.8, 0.2], [1, 0]) == pytest.approx(-np.log(0.8), rel=1e-15)
    # L = 0 for a perfect prediction; the zero probability of the wrong class does no harm
    assert nn_.cross_entropy([1.0, 0.0], [1, 0]) == 0.0
    assert nn_.cross_entropy([0.0, 1.0], [1, 0]) == np.inf
    assert nn_.minibatch_loss([[0.5, 0.5], [0.8, 0.2]], [[1, 0], [0, 1]]) == pytest.approx(
        0.5 * (np.log(2.0) - np.log(0.2)), rel=1e-14
    )


def test_cross_entropy_rejects_bad_input():
    with pytest.raises(ValueError, match=r"same shape.*\(2,\) and y \(3,\)"):
        nn_.cross_entropy([0.5, 0.5], [1, 0, 0])
    with pytest.raises(ValueError, match=r"one-hot.*row 1 is \[0.5, 0.5\]"):
        nn_.cross_entropy([[0.5, 0.5], [0.5, 0.5]], [[1, 0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\].*apply softmax"):
        nn_.cross_entropy([2.0, -1.0], [1, 0])
    with pytest.raises(ValueError, match=r"\(M, C\) with M >= 1; got \(2,\)"):
        nn_.minibatch_loss([0.5, 0.5], [1, 0])


def test_vector_chain_rule_softmax_cross_entropy_gives_y_hat_minus_y(rng):
    """(d sigma / dz)^T . dL/dy_hat = y_hat - y, checked against autograd."""
    z, y = rng.normal(size=3), np.array([0.0, 1.0, 0.0])
    y_hat = nn_.softmax(z)
    grad = nn_.vector_chain_rule(nn_.softmax_jacobian(z), nn_.cross_entropy_grad(y_hat, y))
    np.testing.assert_allclose(grad, y_hat - y, rtol=0, atol=TOL)
    zt = t64(z).requires_grad_()
    F.cross_entropy(zt[None], torch.tensor([1])).backward()
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=0, atol=TOL)
    # batched form
    zb = rng.normal(size=(6, 3))
    yb = onehot(rng.integers(0, 3, size=6), 3)
    gb = nn_.vector_chain_rule(
        nn_.softmax_jacobian(zb), nn_.cross_entropy_grad(nn_.softmax(zb), yb)
    )
    np.testing.assert_allclose(gb, nn_.softmax(zb) - yb, rtol=0, atol=TOL)
    with pytest.raises(ValueError, match=r"jacobian \(3, 3\) and grad_a \(2,\)"):
        nn_.vector_chain_rule(np.eye(3), np.ones(2))


# --------------------------------------------------------------------------- dense layer


def test_dense_forward_matches_torch_linear_with_transposed_weight(rng):
    n_prev, n = 5, 3
    W = rng.normal(size=(n_prev, n))  # seminar layout: one column per neuron (Eq. 6)
    b = rng.normal(size=n)
    linear = torch.nn.Linear(n_prev, n).double()
    # torch stores weight with shape (n, n_prev) = W^T: the two layouts differ by a transpose
    assert tuple(linear.weight.shape) == (n, n_prev) == W.T.shape
    with torch.no_grad():
        linear.weight.copy_(t64(W.T))
        linear.bias.copy_(t64(b))
    x = rng.normal(size=(16, n_prev))
    ref = linear(t64(x)).detach().numpy()
    np.testing.assert_allclose(nn_.dense_forward(x, W, b), ref, rtol=0, atol=TOL)
    # one instance: z = W^T a_prev + b literally
    np.testing.assert_allclose(nn_.dense_forward(x[3], W, b), ref[3], rtol=0, atol=TOL)
    np.testing.assert_allclose(nn_.dense_forward(x[3], W, b), W.T @ x[3] + b, rtol=0, atol=TOL)
    # neuron i's z is w_i . a_prev + b_i (Eq. 2) with w_i the i-th column of W
    assert nn_.dense_forward(x[3], W, b)[1] == pytest.approx(W[:, 1] @ x[3] + b[1], abs=TOL)


def test_dense_forward_rejects_mismatched_shapes():
    W, b = np.zeros((5, 3)), np.zeros(3)
    with pytest.raises(ValueError, match=r"a_prev must have shape \(5,\) or \(M, 5\).*\(8, 3\)"):
        nn_.dense_forward(np.zeros((8, 3)), W, b)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\).*got \(5,\)"):
        nn_.dense_forward(np.zeros(5), W, np.zeros(5))
    with pytest.raises(ValueError, match=r"W must have shape \(n_prev, n\); got shape \(5,\)"):
        nn_.dense_forward(np.zeros(5), np.zeros(5), b)


def test_dense_backward_matches_autograd(rng):
    a_prev, W, b = rng.normal(size=(7, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    upstream = rng.normal(size=(7, 3))
    at, Wt, bt = (t64(v).requires_grad_() for v in (a_prev, W, b))
    ((at @ Wt + bt) * t64(upstream)).sum().backward()
    da, dW, db = nn_.dense_backward(a_prev, W, upstream)
    for mine, ref in ((da, at.grad), (dW, Wt.grad), (db, bt.grad)):
        np.testing.assert_allclose(mine, ref.numpy(), rtol=0, atol=TOL)


def test_gradient_descent_step():
    p = [np.array([1.0, 2.0]), np.array([[3.0]])]
    g = [np.array([0.5, -1.0]), np.array([[2.0]])]
    new = nn_.gradient_descent_step(p, g, lr=0.1)
    np.testing.assert_allclose(new[0], [0.95, 2.1], rtol=1e-15)
    np.testing.assert_allclose(new[1], [[2.8]], rtol=1e-15)
    np.testing.assert_array_equal(p[0], [1.0, 2.0])  # inputs untouched
    with pytest.raises(ValueError, match="lr must be a finite number > 0; got -0.1"):
        nn_.gradient_descent_step(p, g, lr=-0.1)
    with pytest.raises(ValueError, match=r"params\[1\] has shape \(1, 1\) but grads\[1\] has"):
        nn_.gradient_descent_step(p, [g[0], np.ones(1)], lr=0.1)
    with pytest.raises(ValueError, match="same length; got 2 and 1"):
        nn_.gradient_descent_step(p, g[:1], lr=0.1)


# --------------------------------------------------------------------------- single neuron


def _torch_single_neuron(x, w, b, y):
    wt, bt = t64(w).requires_grad_(), t64(b).requires_grad_()
    z = wt @ t64(x) + bt
    a = torch.relu(z)
    loss = (a - y) ** 2
    loss.backward()
    return z.item(), a.item(), loss.item(), wt.grad.numpy(), bt.grad.item()


def test_single_neuron_default_numbers_by_hand():
    p = nn_.single_neuron_example()
    # z = 0.4*0.5 + 0.3*(-1) + 0.2*2 + 0.1 = 0.4; a = 0.4; L = (0.4 - 1)^2 = 0.36
    assert p.z == pytest.approx(0.4, abs=1e-15)
    assert p.a == pytest.approx(0.4, abs=1e-15)
    assert p.loss == pytest.approx(0.36, abs=1e-15)
    assert (p.dL_da, p.da_dz) == (pytest.approx(-1.2), 1.0)
    assert p.dL_dz == pytest.approx(p.dL_da * p.da_dz, abs=0)  # Eq. 9
    np.testing.assert_allclose(p.dL_dw, [-0.6, 1.2, -2.4], rtol=1e-14)
    assert p.dL_db == pytest.approx(-1.2, rel=1e-14)


@pytest.mark.parametrize("b", [0.1, -2.0])  # active neuron, then a dead one (z < 0)
def test_single_neuron_matches_autograd(rng, b):
    x, w, y = rng.normal(size=4), rng.uniform(0.0, 0.5, size=4), 0.7
    x = np.abs(x)  # keep w . x >= 0 so that the sign of z is set by b
    p = nn_.single_neuron_example(x, w, b, y)
    z, a, loss, dw, db = _torch_single_neuron(x, w, b, y)
    assert (p.z > 0) == (b > 0)
    assert p.z == pytest.approx(z, abs=TOL) and p.a == pytest.approx(a, abs=TOL)
    assert p.loss == pytest.approx(loss, abs=TOL)
    np.testing.assert_allclose(p.dL_dw, dw, rtol=0, atol=TOL)
    assert p.dL_db == pytest.approx(db, abs=TOL)


def test_single_neuron_rejects_mismatched_vectors():
    with pytest.raises(ValueError, match=r"same length; got \(3,\) and \(2,\)"):
        nn_.single_neuron_example(x=[1.0, 2.0, 3.0], w=[1.0, 2.0])


# --------------------------------------------------------------------------- NumpyFCN


def _torch_loss_seminar_layout(params: list[np.ndarray], x: np.ndarray, labels: np.ndarray):
    """Independent forward pass in torch with the seminar's W (n_prev, n); returns the loss
    and the leaf tensors so that autograd can give their gradients."""
    leaves = [t64(p).requires_grad_() for p in params]
    a = t64(x)
    n_layers = len(leaves) // 2
    for k in range(n_layers):
        z = a @ leaves[2 * k] + leaves[2 * k + 1]
        a = torch.relu(z) if k < n_layers - 1 else z
    return F.cross_entropy(a, torch.tensor(labels)), leaves


def _toy_problem(rng, n=64, n_features=5):
    """Two Gaussian blobs: signal (label 0) around +0.5, background (label 1) around -0.5."""
    labels = rng.integers(0, 2, size=n)
    x = rng.normal(size=(n, n_features)) + np.where(labels == 0, 0.5, -0.5)[:, None]
    return x, labels


def test_numpy_fcn_shapes_and_forward(rng):
    net = nn_.NumpyFCN((5, 8, 6, 2), seed=1)
    assert net.layer_sizes == (5, 8, 6, 2)
    assert [w.shape for w in net.W] == [(5, 8), (8, 6), (6, 2)]
    assert [b.shape for b in net.b] == [(8,), (6,), (2,)]
    x, _ = _toy_problem(rng, n=10)
    y_hat = net.forward(x)
    assert y_hat.shape == (10, 2)
    np.testing.assert_allclose(y_hat.sum(axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(nn_.softmax(net.logits(x)), y_hat, atol=1e-15)
    assert np.all(np.abs(net.W[0]) <= 1.0 / np.sqrt(5))
    same = nn_.NumpyFCN((5, 8, 6, 2), seed=1)
    np.testing.assert_array_equal(same.forward(x), y_hat)  # seeded


def test_numpy_fcn_rejects_bad_input():
    net = nn_.NumpyFCN((5, 4, 2), seed=0)
    expected = "NumpyFCN expects input of shape (batch, 5); got (3, 4)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        net.forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="call forward"):
        nn_.NumpyFCN((5, 4, 2), seed=0).backward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"C >= 2 classes; got \(5, 1\)"):
        nn_.NumpyFCN((5, 1), seed=0)
    with pytest.raises(ValueError, match="W\\[1\\] has 3 rows but layer 0 has 4 neurons"):
        nn_.NumpyFCN.from_parameters(
            [np.zeros((5, 4)), np.zeros((3, 2))], [np.zeros(4), np.zeros(2)]
        )


def test_numpy_fcn_backprop_matches_autograd(rng):
    net = nn_.NumpyFCN((5, 7, 4, 3), seed=3)
    x = rng.normal(size=(32, 5))
    labels = rng.integers(0, 3, size=32)
    loss = net.loss(x, onehot(labels, 3))
    grads = net.backward(onehot(labels, 3))
    ref_loss, leaves = _torch_loss_seminar_layout(net.parameters(), x, labels)
    ref_loss.backward()
    assert loss == pytest.approx(ref_loss.item(), abs=TOL)
    assert len(grads) == len(leaves) == 6
    for g, leaf in zip(grads, leaves):
        assert g.shape == tuple(leaf.shape)
        np.testing.assert_allclose(g, leaf.grad.numpy(), rtol=0, atol=TOL)
    # the gradients are not trivially zero
    assert all(np.abs(g).max() > 1e-4 for g in grads)


def test_numpy_fcn_and_torch_fcn_train_in_lockstep(rng):
    """NumpyFCN and models.FCN with the same start values and plain SGD (seminar A.3.2):
    parameters equal after every one of 20 mini-batch steps."""
    lr, n_steps = 0.2, 20
    net = nn_.NumpyFCN((5, 16, 8, 2), seed=7)
    twin = FCN(5, hidden=(16, 8), n_classes=2).double()
    with torch.no_grad():
        for layer, W, b in zip(twin.layers, net.W, net.b):
            layer.weight.copy_(t64(W.T))  # torch layout = seminar W transposed
            layer.bias.copy_(t64(b))
    opt = torch.optim.SGD(twin.parameters(), lr=lr)
    x_all, labels_all = _toy_problem(rng, n=n_steps * 16)
    losses = []
    for step in range(n_steps):
        x, labels = x_all[16 * step : 16 * (step + 1)], labels_all[16 * step : 16 * (step + 1)]
        losses.append(net.train_step(x, onehot(labels, 2), lr=lr))
        opt.zero_grad()
        torch_loss = F.cross_entropy(twin(t64(x)), torch.tensor(labels))
        torch_loss.backward()
        opt.step()
        assert losses[-1] == pytest.approx(torch_loss.item(), abs=TOL)
        for (W_t, b_t), W, b in zip(twin.seminar_parameters(), net.W, net.b):
            np.testing.assert_allclose(W, W_t, rtol=0, atol=TOL, err_msg=f"step {step}")
            np.testing.assert_allclose(b, b_t, rtol=0, atol=TOL, err_msg=f"step {step}")
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # and it learned something


def test_numpy_fcn_learns_signal_first(rng):
    """After training, column 0 (signal) of y_hat is high for the signal blob (label 0)."""
    net = nn_.NumpyFCN((5, 16, 2), seed=11)
    x, labels = _toy_problem(rng, n=400)
    first = net.loss(x, onehot(labels, 2))
    for _ in range(150):
        net.train_step(x, onehot(labels, 2), lr=0.5)
    assert net.loss(x, onehot(labels, 2)) < 0.5 * first
    p_sig = net.forward(x)[:, 0]
    assert p_sig[labels == 0].mean() > 0.8 and p_sig[labels == 1].mean() < 0.2


# --------------------------------------------------------------------------- finite differences


def test_finite_difference_gradients_of_a_known_function(rng):
    """L = sum(A * P**3) + c . q has dL/dP = 3 A P**2 and dL/dq = c: central differences
    recover both to order eps**2, and the inputs stay untouched."""
    A, P = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    c, q = rng.normal(size=5), rng.normal(size=5)
    before = [P.copy(), q.copy()]
    fd = nn_.finite_difference_gradients(lambda p: np.sum(A * p[0] ** 3) + c @ p[1], [P, q])
    assert [g.shape for g in fd] == [(3, 4), (5,)]
    np.testing.assert_allclose(fd[0], 3 * A * P**2, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fd[1], c, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(P, before[0])
    np.testing.assert_array_equal(q, before[1])
    # a coarse step leaves the eps**2 error of the cubic visible: (f(p+e) - f(p-e)) / 2e = 3p^2 + e^2
    coarse = nn_.finite_difference_gradients(lambda p: float(p[0][0] ** 3), [np.array([2.0])], eps=0.1)
    assert coarse[0][0] == pytest.approx(3 * 2.0**2 + 0.1**2, rel=1e-12)


def test_finite_difference_gradients_agree_with_numpy_fcn_backprop(rng):
    net = nn_.NumpyFCN((3, 5, 4, 2), seed=5)
    x = rng.normal(size=(20, 3))
    y = onehot(rng.integers(0, 2, size=20), 2)
    net.loss(x, y)
    grads = net.backward(y)
    probe = nn_.NumpyFCN((3, 5, 4, 2), seed=0)

    def loss_of(params):
        probe.set_parameters(params)
        return probe.loss(x, y)

    fd = nn_.finite_difference_gradients(loss_of, net.parameters())
    for g, f in zip(grads, fd):
        np.testing.assert_allclose(f, g, rtol=0, atol=1e-8)


def test_finite_difference_gradients_rejects_bad_input():
    with pytest.raises(ValueError, match="eps must be a finite number > 0; got 0.0"):
        nn_.finite_difference_gradients(lambda p: 0.0, [np.zeros(2)], eps=0.0)
    with pytest.raises(ValueError, match=r"scalar loss; got an array of shape \(2,\)"):
        nn_.finite_difference_gradients(lambda p: p[0], [np.zeros(2)])
    with pytest.raises(ValueError, match=r"params\[0\] must be finite"):
        nn_.finite_difference_gradients(lambda p: 0.0, [np.array([np.inf])])


# --------------------------------------------------------------------------- the training loop


def test_minibatch_indices_cover_every_row_once_per_epoch():
    batches = nn_.minibatch_indices(10, 4, seed=3)
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))
    again = nn_.minibatch_indices(10, 4, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))  # seeded
    other = np.concatenate(nn_.minibatch_indices(10, 4, seed=4))
    assert not np.array_equal(np.concatenate(batches), other)  # a new epoch, a new order
    assert [len(b) for b in nn_.minibatch_indices(3, 8, seed=0)] == [3]
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        nn_.minibatch_indices(10, 0, seed=0)
    with pytest.raises(ValueError, match="n_instances must be an integer >= 1; got 2.5"):
        nn_.minibatch_indices(2.5, 1, seed=0)


def test_train_sgd_is_train_step_over_shuffled_minibatches(rng):
    x, labels = _toy_problem(rng, n=50)
    y = onehot(labels, 2)
    net = nn_.NumpyFCN((5, 6, 2), seed=2)
    losses = nn_.train_sgd(net, x, y, lr=0.3, epochs=3, batch_size=16, seed=9)
    assert losses.shape == (3 * 4,)
    by_hand = nn_.NumpyFCN((5, 6, 2), seed=2)
    expected = []
    for epoch in range(3):
        order = np.random.default_rng(9 + epoch).permutation(50)
        for start in range(0, 50, 16):
            idx = order[start : start + 16]
            expected.append(by_hand.train_step(x[idx], y[idx], lr=0.3))
    np.testing.assert_array_equal(losses, expected)
    for p, q in zip(net.parameters(), by_hand.parameters()):
        np.testing.assert_array_equal(p, q)
    assert nn_.train_sgd(net, x, y, lr=0.3, epochs=0, batch_size=16, seed=9).shape == (0,)
    with pytest.raises(ValueError, match=r"same N; got \(50, 5\) and \(49, 2\)"):
        nn_.train_sgd(net, x, y[:49], lr=0.3, epochs=1, batch_size=16, seed=9)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0; got -1"):
        nn_.train_sgd(net, x, y, lr=0.3, epochs=-1, batch_size=16, seed=9)
