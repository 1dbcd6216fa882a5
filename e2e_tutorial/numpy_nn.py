"""A fully-connected network written from scratch in numpy (seminar section 3.2 and appendix A).

This module uses only numpy so that the reader can see every step; the torch version used for
real training is :class:`e2e_tutorial.models.FCN`, and the tests check one against the other.

Notation (seminar appendix A)
-----------------------------
* A layer with ``n_prev`` inputs and ``n`` neurons has a weight matrix ``W`` of shape
  ``(n_prev, n)``: column ``i`` holds the weights of neuron ``i`` (Eqs. 5-6), and a bias
  vector ``b`` of shape ``(n,)`` (Eq. 7).
* Pre-activation and activation of one instance: ``z = W^T a_prev + b``, ``a = f_a(z)``
  (Eq. 2 for one neuron). For a mini-batch the instances are the *rows* of ``a_prev``
  (shape ``(M, n_prev)``), and the same equation reads ``Z = A_prev @ W + b``.
  (torch's ``nn.Linear`` stores the transpose, ``weight`` of shape ``(n, n_prev)``.)
* Hidden layers use ReLU (seminar Figure 10); the output layer uses softmax (Eq. 3).
* Classes are quoted signal first (section 3.1): one-hot label ``y = (1, 0)`` is signal,
  ``(0, 1)`` background; column 0 of every prediction is the signal probability.
* Loss per instance: categorical cross-entropy (Eq. 4); loss of a mini-batch: the mean over
  its ``M`` instances (Eq. 8). Update rule: gradient descent with learning rate eta
  (appendix A.3.2). Gradients by backpropagation, i.e. the chain rule (Eq. 9 and its vector
  form with a Jacobian, appendix A.3.3).

Arrays are float64 throughout. Bad input raises ``ValueError`` naming the value and what was
expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "relu",
    "relu_grad",
    "softmax",
    "softmax_jacobian",
    "vector_chain_rule",
    "cross_entropy",
    "cross_entropy_grad",
    "minibatch_loss",
    "dense_forward",
    "dense_backward",
    "gradient_descent_step",
    "finite_difference_gradients",
    "SingleNeuronPass",
    "single_neuron_example",
    "NumpyFCN",
    "minibatch_indices",
    "train_sgd",
]

Array = NDArray[np.float64]


def _float_array(x: ArrayLike, name: str) -> Array:
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.isfinite(a.ravel()))
        raise ValueError(
            f"{name} must be finite; {bad.size} value(s) are not, the first at flat index "
            f"{bad[0]} ({a.ravel()[bad[0]]})"
        )
    return a


# ---------------------------------------------------------------------------------------------
# Activation functions (seminar Figure 10 and Eq. 3)
# ---------------------------------------------------------------------------------------------


def relu(z: ArrayLike) -> Array:
    """ReLU, ``max(0, z)`` element by element (seminar Figure 10)."""
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


def relu_grad(z: ArrayLike) -> Array:
    """Derivative of ReLU, element by element: 1 where ``z > 0``, else 0.

    At ``z = 0`` the derivative is undefined; like torch, we take 0 there.
    """
    return (np.asarray(z, dtype=np.float64) > 0.0).astype(np.float64)


def softmax(z: ArrayLike) -> Array:
    """Softmax over the last axis (seminar Eq. 3): ``exp(z_i) / sum_j exp(z_j)``.

    ``z`` has shape ``(C,)`` for one instance or ``(M, C)`` for a mini-batch (one row per
    instance). The largest ``z`` of each row is subtracted first, which leaves the result
    unchanged (it cancels between numerator and denominator) and avoids overflow.
    """
    z = _float_array(z, "z")
    if z.ndim not in (1, 2):
        raise ValueError(f"z must have shape (C,) or (M, C); got shape {z.shape}")
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_jacobian(z: ArrayLike) -> Array:
    """Jacobian of softmax, ``J[i, j] = d sigma_i / d z_j = sigma_i (delta_ij - sigma_j)``.

    Shape ``(C, C)`` for ``z`` of shape ``(C,)``, or ``(M, C, C)`` for a mini-batch. Used with
    :func:`vector_chain_rule` (seminar appendix A.3.3).
    """
    s = softmax(z)
    return s[..., :, None] * np.eye(s.shape[-1]) - s[..., :, None] * s[..., None, :]


def vector_chain_rule(jacobian: ArrayLike, grad_a: ArrayLike) -> Array:
    """Vector chain rule (seminar appendix A.3.3): ``grad_z L = (da/dz)^T . grad_a L``.

    ``jacobian`` is ``da/dz`` of shape ``(n, m)`` (``a`` in R^n, ``z`` in R^m) and ``grad_a``
    has shape ``(n,)``; the result has shape ``(m,)``. A leading batch axis on both is allowed:
    ``(M, n, m)`` and ``(M, n)`` give ``(M, m)``.
    """
    jac = _float_array(jacobian, "jacobian")
    g = _float_array(grad_a, "grad_a")
    if jac.ndim != g.ndim + 1 or jac.shape[:-1] != g.shape:
        raise ValueError(
            f"jacobian of shape (..., n, m) needs grad_a of shape (..., n); got jacobian "
            f"{jac.shape} and grad_a {g.shape}"
        )
    return np.einsum("...nm,...n->...m", jac, g)


# ---------------------------------------------------------------------------------------------
# Loss (seminar Eqs. 4 and 8)
# ---------------------------------------------------------------------------------------------


def _check_prediction_and_label(y_hat: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    y_hat = _float_array(y_hat, "y_hat")
    y = _float_array(y, "y")
    if y_hat.shape != y.shape or y.ndim not in (1, 2):
        raise ValueError(
            f"y_hat and y must have the same shape, (C,) or (M, C); got y_hat {y_hat.shape} "
            f"and y {y.shape}"
        )
    if np.any((y_hat < 0.0) | (y_hat > 1.0)):
        raise ValueError(
            f"y_hat must hold probabilities in [0, 1] (apply softmax to the scores first); "
            f"got values from {y_hat.min()} to {y_hat.max()}"
        )
    onehot = np.all((y == 0.0) | (y == 1.0), axis=-1) & (y.sum(axis=-1) == 1.0)
    if not np.all(onehot):
        first = int(np.flatnonzero(np.atleast_1d(~onehot))[0])
        row = y if y.ndim == 1 else y[first]
        raise ValueError(
            f"y must be one-hot, e.g. (1, 0) for signal and (0, 1) for background; "
            f"row {first} is {row.tolist()}"
        )
    return y_hat, y


def cross_entropy(y_hat: ArrayLike, y: ArrayLike) -> Array:
    """Categorical cross-entropy (seminar Eq. 4): ``L = -sum_c y_c ln y_hat_c``.

    ``y_hat``: predicted probabilities, ``y``: one-hot labels, both of shape ``(C,)`` (returns
    a 0-d array) or ``(M, C)`` (returns one loss per instance, shape ``(M,)``). Terms with
    ``y_c = 0`` contribute nothing, even where ``y_hat_c = 0``; a true class predicted with
    probability 0 gives ``inf``. Dimensionless (natural log, nats).
    """
    y_hat, y = _check_prediction_and_label(y_hat, y)
    with np.errstate(divide="ignore"):  # ln 0 = -inf where the true class has y_hat = 0
        log_y_hat = np.log(np.where(y > 0.0, y_hat, 1.0))  # ln 1 = 0 where y_c = 0
    return -(y * log_y_hat).sum(axis=-1)


def cross_entropy_grad(y_hat: ArrayLike, y: ArrayLike) -> Array:
    """Gradient of Eq. 4 with respect to the probabilities: ``dL/dy_hat_c = -y_c / y_hat_c``.

    Same shapes as :func:`cross_entropy`'s input. Combined with the softmax Jacobian through
    :func:`vector_chain_rule`, it gives ``dL/dz = y_hat - y``.
    """
    y_hat, y = _check_prediction_and_label(y_hat, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0.0, -y / y_hat, 0.0)


def minibatch_loss(y_hat: ArrayLike, y: ArrayLike) -> float:
    """Mini-batch loss (seminar Eq. 8): the mean of Eq. 4 over the ``M`` rows of a batch.

    ``y_hat`` and ``y`` have shape ``(M, C)``.
    """
    y_hat = np.asarray(y_hat, dtype=np.float64)
    if y_hat.ndim != 2 or y_hat.shape[0] == 0:
        raise ValueError(f"a mini-batch must have shape (M, C) with M >= 1; got {y_hat.shape}")
    return float(np.mean(cross_entropy(y_hat, y)))


# ---------------------------------------------------------------------------------------------
# One fully-connected layer (seminar section 3.2.1, appendix A.2)
# ---------------------------------------------------------------------------------------------


def _check_weights(W: Array, b: Array | None = None) -> None:
    if W.ndim != 2:
        raise ValueError(f"W must have shape (n_prev, n); got shape {W.shape}")
    n = W.shape[1]
    if b is not None and b.shape != (n,):
        raise ValueError(f"b must have shape ({n},) to match W of shape {W.shape}; got {b.shape}")


def _check_layer(a_prev: Array, W: Array, b: Array | None = None) -> None:
    _check_weights(W, b)
    n_prev = W.shape[0]
    if a_prev.ndim not in (1, 2) or a_prev.shape[-1] != n_prev:
        raise ValueError(
            f"a_prev must have shape ({n_prev},) or (M, {n_prev}) to match W of shape "
            f"{W.shape}; got {a_prev.shape}"
        )


def dense_forward(a_prev: ArrayLike, W: ArrayLike, b: ArrayLike) -> Array:
    """Pre-activation of a fully-connected layer: ``z = W^T a_prev + b`` (seminar A.2.1).

    ``W`` has shape ``(n_prev, n)`` exactly as in seminar Eq. 6 (one column per neuron), ``b``
    shape ``(n,)``. ``a_prev`` is one instance, shape ``(n_prev,)`` -> ``z`` of shape ``(n,)``,
    or a mini-batch with one instance per row, ``(M, n_prev)`` -> ``(M, n)``; row ``m`` of the
    result is ``W^T a_m + b``, computed as ``a_prev @ W + b``.
    """
    a_prev = _float_array(a_prev, "a_prev")
    W = _float_array(W, "W")
    b = _float_array(b, "b")
    _check_layer(a_prev, W, b)
    if a_prev.ndim == 1:
        return W.T @ a_prev + b
    return a_prev @ W + b


def dense_backward(a_prev: ArrayLike, W: ArrayLike, dz: ArrayLike) -> tuple[Array, Array, Array]:
    """Backward pass through ``Z = A_prev @ W + b`` for a mini-batch (seminar A.3.3).

    ``dz`` is the gradient of the (already averaged, Eq. 8) loss with respect to ``Z``, shape
    ``(M, n)``. Returns ``(da_prev, dW, db)`` of shapes ``(M, n_prev)``, ``(n_prev, n)`` and
    ``(n,)``: ``dW = A_prev^T dz``, ``db = sum over rows of dz``, ``da_prev = dz W^T``.
    """
    a_prev = _float_array(a_prev, "a_prev")
    W = _float_array(W, "W")
    dz = _float_array(dz, "dz")
    if a_prev.ndim != 2:
        raise ValueError(f"a_prev must be a mini-batch of shape (M, n_prev); got {a_prev.shape}")
    _check_layer(a_prev, W)
    if dz.shape != (a_prev.shape[0], W.shape[1]):
        raise ValueError(
            f"dz must have shape ({a_prev.shape[0]}, {W.shape[1]}) (one row per instance, one "
            f"column per neuron); got {dz.shape}"
        )
    return dz @ W.T, a_prev.T @ dz, dz.sum(axis=0)


def gradient_descent_step(
    params: Sequence[ArrayLike], grads: Sequence[ArrayLike], lr: float
) -> list[Array]:
    """One gradient-descent update (seminar A.3.2, step 4): ``p_new = p_old - lr * grad``.

    ``params`` and ``grads`` are matching lists of arrays (e.g. ``[W1, b1, W2, b2, ...]``);
    ``lr`` is the learning rate eta > 0. Returns new arrays; the inputs are not modified.
    """
    if not (np.isfinite(lr) and lr > 0.0):
        raise ValueError(f"learning rate lr must be a finite number > 0; got {lr}")
    if len(params) != len(grads):
        raise ValueError(
            f"params and grads must have the same length; got {len(params)} and {len(grads)}"
        )
    new = []
    for k, (p, g) in enumerate(zip(params, grads)):
        p = np.asarray(p, dtype=np.float64)
        g = _float_array(g, f"grads[{k}]")
        if p.shape != g.shape:
            raise ValueError(f"params[{k}] has shape {p.shape} but grads[{k}] has {g.shape}")
        new.append(p - lr * g)
    return new


def finite_difference_gradients(
    loss_fn: Callable[[list[Array]], float], params: Sequence[ArrayLike], eps: float = 1e-6
) -> list[Array]:
    """Gradients of a scalar loss by central finite differences, to check backpropagation.

    ``loss_fn(params)`` takes a list of arrays shaped like ``params`` (e.g. ``[W1, b1, ...]``,
    the order of :meth:`NumpyFCN.parameters`) and returns the scalar loss. Every element
    ``p`` of every array is nudged by ``+eps`` and ``-eps`` in turn, the others held fixed:
    ``dL/dp ~ (L(p + eps) - L(p - eps)) / (2 eps)``, which is exact up to terms of order
    ``eps**2`` (plus rounding of order ``1e-16 * L / eps`` in float64). Two calls of
    ``loss_fn`` per parameter: meant for small networks. Returns one float64 array per
    parameter array, same shapes; ``params`` is not modified (``loss_fn`` gets copies).
    """
    if not (np.isfinite(eps) and eps > 0.0):
        raise ValueError(f"step eps must be a finite number > 0; got {eps}")
    base = [_float_array(p, f"params[{k}]").copy() for k, p in enumerate(params)]
    grads = []
    for k, p in enumerate(base):
        g = np.zeros_like(p)
        for index in np.ndindex(p.shape):
            values = []
            for step in (eps, -eps):
                probe = [q.copy() for q in base]
                probe[k][index] += step
                value = np.asarray(loss_fn(probe), dtype=np.float64)
                if value.shape != ():
                    raise ValueError(
                        f"loss_fn must return a scalar loss; got an array of shape {value.shape}"
                    )
                values.append(float(value))
            g[index] = (values[0] - values[1]) / (2.0 * eps)
        grads.append(g)
    return grads


# ---------------------------------------------------------------------------------------------
# Backpropagation through a single neuron (seminar Eq. 9, Figure 18)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SingleNeuronPass:
    """Every quantity of the single-neuron forward and backward pass (seminar Figure 18)."""

    x: Array  #: input activations a_prev, shape (F,)
    w: Array  #: weights, shape (F,)
    b: float  #: bias
    y: float  #: target
    z: float  #: pre-activation z = w . x + b (Eq. 2)
    a: float  #: activation a = ReLU(z)
    loss: float  #: L = (a - y)^2
    dL_da: float  #: dL/da = 2 (a - y)
    da_dz: float  #: da/dz = 1 if z > 0 else 0
    dL_dz: float  #: dL/dz = dL/da * da/dz (Eq. 9)
    dL_dw: Array  #: dL/dw = dL/dz * dz/dw = dL/dz * x, shape (F,)
    dL_db: float  #: dL/db = dL/dz * dz/db = dL/dz


def single_neuron_example(
    x: ArrayLike = (0.5, -1.0, 2.0),
    w: ArrayLike = (0.4, 0.3, 0.2),
    b: float = 0.1,
    y: float = 1.0,
) -> SingleNeuronPass:
    """Forward and backward pass of one ReLU neuron, worked with numbers (seminar Figure 18).

    Forward: ``z = w . x + b`` (Eq. 2), ``a = ReLU(z)``, ``L = (a - y)^2``. Backward, by the
    chain rule (Eq. 9): ``dL/dz = dL/da * da/dz``, then ``dL/dw = dL/dz * x`` and
    ``dL/db = dL/dz``. A squared-error loss stands in for ``f_L`` because the cross-entropy of
    Eq. 4 needs at least two output neurons. With the defaults: z = 0.4, a = 0.4, L = 0.36,
    dL/dz = -1.2, dL/dw = (-0.6, 1.2, -2.4), dL/db = -1.2.
    """
    x = np.atleast_1d(_float_array(x, "x"))
    w = np.atleast_1d(_float_array(w, "w"))
    if x.ndim != 1 or x.shape != w.shape:
        raise ValueError(f"x and w must be vectors of the same length; got {x.shape} and {w.shape}")
    b = float(_float_array(b, "b"))
    y = float(_float_array(y, "y"))
    z = float(w @ x + b)
    a = max(z, 0.0)
    loss = (a - y) ** 2
    dL_da = 2.0 * (a - y)
    da_dz = 1.0 if z > 0.0 else 0.0
    dL_dz = dL_da * da_dz
    return SingleNeuronPass(
        x=x, w=w, b=b, y=y, z=z, a=a, loss=loss,
        dL_da=dL_da, da_dz=da_dz, dL_dz=dL_dz, dL_dw=dL_dz * x, dL_db=dL_dz,
    )


# ---------------------------------------------------------------------------------------------
# A small fully-connected network with hand-written backpropagation (seminar 3.2, A.2-A.3)
# ---------------------------------------------------------------------------------------------


class NumpyFCN:
    """Fully-connected classifier in numpy: ReLU hidden layers, softmax output (Figure 9).

    ``layer_sizes = (F, n_1, ..., n_{L-1}, C)``: F input features, hidden layers, C classes
    (column 0 = signal). Layer ``l`` has ``W[l]`` of shape ``(n_{l-1}, n_l)`` and ``b[l]`` of
    shape ``(n_l,)``, as in seminar Eqs. 6-7 (``W[0]`` is the seminar's W^(1)). Initial values
    are drawn uniformly from ``[-1/sqrt(n_prev), 1/sqrt(n_prev)]`` (the same range as
    torch's ``nn.Linear``, not the same numbers) with ``numpy.random.default_rng(seed)``.
    """

    def __init__(self, layer_sizes: Sequence[int], seed: int) -> None:
        sizes = [int(n) for n in layer_sizes]
        if len(sizes) < 2 or any(n < 1 for n in sizes) or sizes[-1] < 2:
            raise ValueError(
                f"layer_sizes must be (F, ..., C) with every size >= 1 and C >= 2 classes; "
                f"got {tuple(layer_sizes)}"
            )
        rng = np.random.default_rng(seed)
        self.W: list[Array] = []
        self.b: list[Array] = []
        for n_prev, n in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / np.sqrt(n_prev)
            self.W.append(rng.uniform(-bound, bound, size=(n_prev, n)))
            self.b.append(rng.uniform(-bound, bound, size=n))
        self._cache: dict[str, list[Array]] | None = None

    @classmethod
    def from_parameters(cls, W: Sequence[ArrayLike], b: Sequence[ArrayLike]) -> "NumpyFCN":
        """Network with the given weights ``W[l]`` (shape ``(n_prev, n)``) and biases ``b[l]``."""
        if len(W) != len(b) or len(W) == 0:
            raise ValueError(f"need one bias per weight matrix; got {len(W)} W and {len(b)} b")
        W = [_float_array(w, f"W[{k}]").copy() for k, w in enumerate(W)]
        b = [_float_array(v, f"b[{k}]").copy() for k, v in enumerate(b)]
        for k in range(len(W)):
            _check_weights(W[k], b[k])
            if k > 0 and W[k].shape[0] != W[k - 1].shape[1]:
                raise ValueError(
                    f"W[{k}] has {W[k].shape[0]} rows but layer {k - 1} has "
                    f"{W[k - 1].shape[1]} neurons"
                )
        net = cls.__new__(cls)
        net.W, net.b, net._cache = W, b, None
        return net

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """``(F, n_1, ..., C)``."""
        return (self.W[0].shape[0],) + tuple(w.shape[1] for w in self.W)

    def parameters(self) -> list[Array]:
        """``[W1, b1, W2, b2, ...]``, the order :meth:`backward` returns gradients in."""
        return [p for pair in zip(self.W, self.b) for p in pair]

    def set_parameters(self, params: Sequence[ArrayLike]) -> None:
        """Replace the parameters by ``params`` in the order of :meth:`parameters`."""
        if len(params) != 2 * len(self.W):
            raise ValueError(f"expected {2 * len(self.W)} arrays [W1, b1, ...]; got {len(params)}")
        for k, (old, new) in enumerate(zip(self.parameters(), params)):
            if np.shape(new) != old.shape:
                raise ValueError(f"parameter {k} must have shape {old.shape}; got {np.shape(new)}")
        self.W = [np.asarray(p, dtype=np.float64).copy() for p in params[0::2]]
        self.b = [np.asarray(p, dtype=np.float64).copy() for p in params[1::2]]
        self._cache = None

    def forward(self, x: ArrayLike) -> Array:
        """Predicted probabilities ``y_hat`` for a mini-batch ``x`` of shape ``(M, F)``.

        Hidden layers: ``a = ReLU(a_prev @ W + b)``; output: ``y_hat = softmax(z)`` (Eq. 3),
        shape ``(M, C)``. Caches every ``a`` and ``z`` for :meth:`backward`.
        """
        x = _float_array(x, "x")
        F = self.W[0].shape[0]
        if x.ndim != 2 or x.shape[1] != F:
            raise ValueError(f"NumpyFCN expects input of shape (batch, {F}); got {x.shape}")
        activations, pre_activations = [x], []
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            z = dense_forward(activations[-1], W, b)
            pre_activations.append(z)
            activations.append(relu(z) if k < len(self.W) - 1 else softmax(z))
        self._cache = {"a": activations, "z": pre_activations}
        return activations[-1]

    def logits(self, x: ArrayLike) -> Array:
        """Output-layer pre-activations ``z`` (before softmax), shape ``(M, C)``."""
        self.forward(x)
        assert self._cache is not None
        return self._cache["z"][-1]

    def loss(self, x: ArrayLike, y: ArrayLike) -> float:
        """Mini-batch loss (Eq. 8) of one-hot labels ``y`` (shape ``(M, C)``)."""
        return minibatch_loss(self.forward(x), y)

    def backward(self, y: ArrayLike) -> list[Array]:
        """Gradients of the mini-batch loss (Eq. 8) for the last :meth:`forward` call.

        Returns ``[dL/dW1, dL/db1, dL/dW2, ...]`` (same shapes and order as
        :meth:`parameters`). Softmax and cross-entropy are differentiated together: the
        gradient with respect to the output pre-activations is ``(y_hat - y) / M``.
        """
        if self._cache is None:
            raise ValueError("call forward(x) before backward(y)")
        a, z = self._cache["a"], self._cache["z"]
        y_hat = a[-1]
        y = _float_array(y, "y")
        if y.shape != y_hat.shape:
            raise ValueError(
                f"y must have shape {y_hat.shape} (one-hot, like y_hat); got {y.shape}"
            )
        _check_prediction_and_label(y_hat, y)
        dz = (y_hat - y) / y.shape[0]
        grads: list[Array] = []
        for k in reversed(range(len(self.W))):
            da_prev, dW, db = dense_backward(a[k], self.W[k], dz)
            grads = [dW, db] + grads
            if k > 0:
                dz = da_prev * relu_grad(z[k - 1])
        return grads

    def train_step(self, x: ArrayLike, y: ArrayLike, lr: float) -> float:
        """One mini-batch gradient-descent step (A.3.2 steps 1-4); returns the loss before it."""
        loss = self.loss(x, y)
        self.set_parameters(gradient_descent_step(self.parameters(), self.backward(y), lr))
        return loss


# ---------------------------------------------------------------------------------------------
# The optimisation loop (seminar A.3.2, steps 1-5)
# ---------------------------------------------------------------------------------------------


def minibatch_indices(n_instances: int, batch_size: int, seed: int) -> list[NDArray[np.intp]]:
    """The mini-batches of one epoch: row indices ``0 .. n_instances - 1`` shuffled by
    ``numpy.random.default_rng(seed)`` and cut into consecutive pieces of ``batch_size`` (the
    last piece holds the remainder). Every index appears exactly once per epoch."""
    for name, value in (("n_instances", n_instances), ("batch_size", batch_size)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    order = np.random.default_rng(seed).permutation(int(n_instances))
    return [order[start : start + int(batch_size)] for start in range(0, len(order), int(batch_size))]


def train_sgd(
    net: NumpyFCN, x: ArrayLike, y: ArrayLike, lr: float, epochs: int, batch_size: int, seed: int
) -> Array:
    """Mini-batch gradient descent (seminar A.3.2): ``epochs`` passes over ``(x, y)``.

    ``x`` has shape ``(N, F)``, ``y`` one-hot labels ``(N, C)``. Epoch ``e`` (from 0) takes its
    mini-batches from :func:`minibatch_indices` with seed ``seed + e``, and each batch is one
    :meth:`NumpyFCN.train_step` with learning rate ``lr``. ``net`` is updated in place.
    Returns the mini-batch loss (Eq. 8) of every step, measured before the step, shape
    ``(steps,)``.
    """
    x = _float_array(x, "x")
    y = _float_array(y, "y")
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(
            f"x and y must be (N, F) and (N, C) with the same N; got {x.shape} and {y.shape}"
        )
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0; got {epochs!r}")
    losses = [
        net.train_step(x[idx], y[idx], lr)
        for epoch in range(int(epochs))
        for idx in minibatch_indices(len(x), batch_size, seed + epoch)
    ]
    return np.asarray(losses, dtype=np.float64)
