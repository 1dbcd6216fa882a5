"""The classifiers of the course, as torch modules.

* :class:`FCN` -- the kinematic fully-connected network of seminar section 3 (Figure 9):
  ReLU hidden layers and a linear output layer giving one score per class.
* The convolutional network of section 4 and the ResNet-15 of the case study (section 5.1)
  will be added to this module by a later chapter; they follow the same conventions.

Conventions shared by every model here
--------------------------------------
* ``forward`` returns class *scores* (logits, the output layer's pre-activations z), shape
  ``(batch, n_classes)``; softmax (seminar Eq. 3) turns them into probabilities. Training uses
  ``torch.nn.functional.cross_entropy(logits, target)``, which applies softmax and Eq. 4
  together and averages over the mini-batch (Eq. 8).
* Classes are quoted **signal first** (seminar section 3.1): column 0 is the signal
  (H -> gamma gamma), then the backgrounds (gamma gamma, then gamma + jet when there are three).
  Integer targets are therefore class indices: 0 = signal.
* Input of the wrong shape raises ``ValueError`` naming the expected and the received shape.
* torch's ``nn.Linear`` stores ``weight`` with shape ``(n, n_prev)``, the transpose of the
  seminar's ``W`` (shape ``(n_prev, n)``, Eq. 6); :meth:`FCN.seminar_parameters` returns the
  seminar's layout.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

__all__ = ["FCN"]


def _check_input_shape(model: str, x: torch.Tensor, expected: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(batch, *expected)``."""
    if tuple(x.shape[1:]) != expected or x.ndim != len(expected) + 1:
        want = ", ".join(["batch"] + [str(n) for n in expected])
        raise ValueError(f"{model} expects input of shape ({want}); got {tuple(x.shape)}")


class FCN(nn.Module):
    """Fully-connected classifier on kinematic features (seminar section 3, Figure 9).

    ``n_features`` inputs (F), hidden layers of ``hidden`` neurons with ReLU, and an output
    layer of ``n_classes`` (C) neurons. :meth:`forward` returns logits of shape
    ``(batch, n_classes)``, column 0 = signal. Weights start from torch's default
    initialisation; call ``torch.manual_seed(seed)`` before building for reproducible values.
    """

    def __init__(
        self, n_features: int, hidden: Sequence[int] = (64, 64), n_classes: int = 2
    ) -> None:
        super().__init__()
        if int(n_features) != n_features or n_features < 1:
            raise ValueError(f"n_features must be an integer >= 1; got {n_features!r}")
        if any(int(n) != n or n < 1 for n in hidden):
            raise ValueError(f"hidden must be a sequence of integers >= 1; got {tuple(hidden)!r}")
        if int(n_classes) != n_classes or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2; got {n_classes!r}")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        sizes = [self.n_features] + [int(n) for n in hidden] + [self.n_classes]
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes, sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``z`` of shape ``(batch, n_classes)`` for features ``x`` of shape
        ``(batch, n_features)``."""
        _check_input_shape("FCN", x, (self.n_features,))
        a = x
        for layer in self.layers[:-1]:
            a = torch.relu(layer(a))
        return self.layers[-1](a)

    def _as_input(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        param = self.layers[0].weight
        return torch.as_tensor(x, dtype=param.dtype, device=param.device)

    def predict_proba(self, x: torch.Tensor | ArrayLike) -> NDArray[np.floating]:
        """Class probabilities ``y_hat = softmax(z)`` (seminar Eq. 3), shape ``(batch, n_classes)``.

        Accepts a tensor or a numpy array; returns a numpy array (for metrics and plots),
        computed without gradients. Each row sums to 1; column 0 is the signal probability.
        """
        with torch.no_grad():
            return torch.softmax(self(self._as_input(x)), dim=1).cpu().numpy()

    def signal_score(self, x: torch.Tensor | ArrayLike) -> NDArray[np.floating]:
        """Signal probability ``y_hat_sig`` (column 0 of :meth:`predict_proba`), shape ``(batch,)``.

        This is the score that :mod:`e2e_tutorial.metrics` expects.
        """
        return self.predict_proba(x)[:, 0]

    def layer_shapes(self) -> list[tuple[int, int]]:
        """``(n_prev, n)`` of each layer's weight matrix in the seminar's layout (Eq. 6), input
        to output, e.g. ``[(5, 64), (64, 64), (64, 2)]``; for drawing seminar Figure 9."""
        return [(layer.in_features, layer.out_features) for layer in self.layers]

    def seminar_parameters(self) -> list[tuple[NDArray[np.floating], NDArray[np.floating]]]:
        """Copies of each layer's ``(W, b)`` in the seminar's layout: ``W`` of shape
        ``(n_prev, n)`` (= ``nn.Linear.weight`` transposed) and ``b`` of shape ``(n,)``."""
        return [
            (layer.weight.detach().cpu().numpy().T.copy(), layer.bias.detach().cpu().numpy().copy())
            for layer in self.layers
        ]
