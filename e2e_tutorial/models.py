"""The classifiers of the course, as torch modules.

* :class:`FCN` -- the kinematic fully-connected network of seminar section 3 (Figure 9):
  ReLU hidden layers and a linear output layer giving one score per class.
* :class:`PlainCNN` -- the basic convolutional network of section 4.3 (Figure 15): stages of
  convolution -> ReLU -> max pooling, then flatten and one linear layer.
* :class:`ResNet15` -- the residual network of the case study (section 5.1), as reconstructed
  in the course's reference notes: a 7x7 convolution, seven residual blocks of two 3x3
  convolutions each, global max pooling and one linear layer.
* :func:`trace_shapes` -- the output shape after each layer of a model for one input shape
  (appendix B.3: Eq. 10 applied layer after layer).

The two CNNs take any number of input channels (1 = ECAL only, 3 = tracks + ECAL + HCAL,
6 = two stacked photon crops) and, after construction, images of the size they were built for
(:class:`PlainCNN`, whose linear layer depends on it) or of any size (:class:`ResNet15`).
``norm=True`` inserts a ``BatchNorm2d`` after every convolution (seminar footnote 7).

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

from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from e2e_tutorial.convolution import conv_output_shape

__all__ = ["FCN", "PlainCNN", "ResidualBlock", "ResNet15", "trace_shapes"]


def _check_input_shape(model: str, x: torch.Tensor, expected: tuple[int | str, ...]) -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(batch, *expected)``.

    An entry of ``expected`` that is a string (e.g. ``"H"``) stands for any size on that axis
    and is printed as such in the message.
    """
    if x.ndim != len(expected) + 1 or any(
        not isinstance(want, str) and n != want for n, want in zip(x.shape[1:], expected)
    ):
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


# --------------------------------------------------------------------------------------------
# Convolutional networks (seminar section 4.3, Figure 15; case study section 5.1)
# --------------------------------------------------------------------------------------------


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _spatial_shape(image_shape: Sequence[int], in_channels: int) -> tuple[int, int]:
    """``(H, W)`` from ``image_shape`` given as ``(H, W)`` or ``(C, H, W)`` with C = in_channels."""
    shape = tuple(image_shape)
    ok = len(shape) in (2, 3) and all(
        not isinstance(n, bool) and isinstance(n, (int, np.integer)) and n >= 1 for n in shape
    )
    if not ok or (len(shape) == 3 and shape[0] != in_channels):
        raise ValueError(
            f"image_shape must be (H, W) or (C, H, W) with C = in_channels = {in_channels} and "
            f"sizes >= 1; got {tuple(image_shape)!r}"
        )
    return int(shape[-2]), int(shape[-1])


class PlainCNN(nn.Module):
    """The basic convolutional classifier of seminar section 4.3 (Figure 15).

    One stage per entry of ``channels``: a convolution with that many ``kernel_size`` x
    ``kernel_size`` kernels (zero padding ``padding``, default ``kernel_size // 2``, which keeps
    the size for odd kernels), [``BatchNorm2d`` if ``norm``], ReLU, and ``pool`` x ``pool`` max
    pooling with stride ``pool``. Then the last feature map is flattened and one linear layer
    gives ``n_classes`` logits (column 0 = signal).

    The linear layer's input size, :attr:`flatten_size` = ``C_last * O_h * O_w``, is computed
    from ``image_shape`` ((H, W), or (C, H, W) with C = ``in_channels``) with Eq. 10 applied to
    every convolution and pooling, so the network only accepts images of that size:
    ``forward`` raises ``ValueError`` naming the expected and the received shape otherwise.
    """

    def __init__(
        self,
        in_channels: int,
        image_shape: Sequence[int],
        n_classes: int = 2,
        channels: Sequence[int] = (16, 32),
        kernel_size: int = 3,
        pool: int = 2,
        norm: bool = False,
        padding: int | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = _check_count("in_channels", in_channels, 1)
        self.image_hw = _spatial_shape(image_shape, self.in_channels)
        self.n_classes = _check_count("n_classes", n_classes, 2)
        if len(channels) < 1 or any(
            isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1 for c in channels
        ):
            raise ValueError(
                f"channels must be a non-empty sequence of integers >= 1; got {tuple(channels)!r}"
            )
        kernel_size = _check_count("kernel_size", kernel_size, 1)
        pool = _check_count("pool", pool, 1)
        padding = kernel_size // 2 if padding is None else _check_count("padding", padding, 0)
        self.norm = bool(norm)

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c, hw = self.in_channels, self.image_hw
        for k, c_out in enumerate((int(c) for c in channels), start=1):
            try:
                hw = conv_output_shape(hw, kernel_size, padding, 1)
                layers[f"conv{k}"] = nn.Conv2d(
                    c, c_out, kernel_size, padding=padding, bias=not self.norm
                )
                if self.norm:
                    layers[f"norm{k}"] = nn.BatchNorm2d(c_out)
                layers[f"relu{k}"] = nn.ReLU()
                hw = conv_output_shape(hw, pool, 0, pool)
                layers[f"pool{k}"] = nn.MaxPool2d(pool)
            except ValueError as err:
                raise ValueError(
                    f"image_shape {self.image_hw} is too small for {len(channels)} stages of a "
                    f"{kernel_size}x{kernel_size} convolution (padding {padding}) and "
                    f"{pool}x{pool} pooling: stage {k} fails ({err})"
                ) from None
            c = c_out
        self.flatten_size = c * hw[0] * hw[1]
        layers["flatten"] = nn.Flatten()
        layers["linear"] = nn.Linear(self.flatten_size, self.n_classes)
        self.layers = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(batch, n_classes)`` for images ``x`` of shape
        ``(batch, in_channels, H, W)`` with ``(H, W)`` the ``image_shape`` of construction."""
        _check_input_shape("PlainCNN", x, (self.in_channels, *self.image_hw))
        return self.layers(x)


class ResidualBlock(nn.Module):
    """A residual block of ResNet-15: ``out = ReLU(F(x) + shortcut(x))``.

    ``F`` (:attr:`residual`) is two 3x3 convolutions with zero padding 1, the first with stride
    ``stride``, with a ReLU between them [and ``BatchNorm2d`` after each if ``norm``]. The
    shortcut lets the input bypass them: the identity when the shape is unchanged, otherwise a
    1x1 convolution with the same stride (a *projection*, [+ ``BatchNorm2d``]) that matches the
    channel count and the spatial size. Output size per axis from Eq. 10:
    ``floor((I + 2 - 3) / s) + 1 = ceil(I / s)`` on both paths.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, norm: bool = False
    ) -> None:
        super().__init__()
        in_channels = _check_count("in_channels", in_channels, 1)
        out_channels = _check_count("out_channels", out_channels, 1)
        stride = _check_count("stride", stride, 1)
        bias = not norm
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv1"] = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=bias)
        if norm:
            layers["norm1"] = nn.BatchNorm2d(out_channels)
        layers["relu1"] = nn.ReLU()
        layers["conv2"] = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=bias)
        if norm:
            layers["norm2"] = nn.BatchNorm2d(out_channels)
        self.residual = nn.Sequential(layers)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            proj: OrderedDict[str, nn.Module] = OrderedDict()
            proj["conv"] = nn.Conv2d(in_channels, out_channels, 1, stride, bias=bias)
            if norm:
                proj["norm"] = nn.BatchNorm2d(out_channels)
            self.shortcut = nn.Sequential(proj)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


class ResNet15(nn.Module):
    """The 15-convolution residual network of the case study (seminar section 5.1).

    As reconstructed in the course's reference notes from the study author's later public code
    (the paper's exact network is unconfirmed):

    1. ``conv0``: a 7x7 convolution with 16 kernels (zero padding 3, stride ``stem_stride``,
       1 by default), [``BatchNorm2d``], ReLU;
    2. ``block1``-``block3``: residual blocks of 16 maps;
    3. ``block4``: a block 16 -> 32 maps with stride 2 (the spatial size is halved, rounding
       up; the shortcut is a 1x1 convolution with stride 2);
    4. ``block5``-``block7``: residual blocks of 32 maps;
    5. global max pooling (the largest value of each of the 32 maps), flatten, and one linear
       layer giving ``n_classes`` logits (column 0 = signal).

    Convolutions: 1 + 7 blocks x 2 = 15, not counting the 1x1 projection on block4's shortcut.
    Thanks to the padding and the global pooling, any image size and any number of input
    channels work: full 170x360 events or 16/32-pixel photon crops, 1, 3 or 6 channels.
    ``stem_stride=2`` halves the size after the first convolution (a cheaper variant the
    reference notes mention for CPU training; public code derived from the author's also
    max-pools 2x2 after the first convolution, which the reference description leaves out
    and so does this class). ``norm=True`` adds ``BatchNorm2d`` after every
    convolution (seminar footnote 7), and the convolutions then have no bias.
    """

    #: Feature maps before and after the stride-2 transition, and blocks per width.
    WIDTHS = (16, 32)
    BLOCKS_PER_WIDTH = 3

    def __init__(
        self, in_channels: int, n_classes: int = 2, norm: bool = False, stem_stride: int = 1
    ) -> None:
        super().__init__()
        self.in_channels = _check_count("in_channels", in_channels, 1)
        self.n_classes = _check_count("n_classes", n_classes, 2)
        stem_stride = _check_count("stem_stride", stem_stride, 1)
        self.norm = bool(norm)
        narrow, wide = self.WIDTHS
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv0"] = nn.Conv2d(self.in_channels, narrow, 7, stem_stride, 3, bias=not self.norm)
        if self.norm:
            layers["norm0"] = nn.BatchNorm2d(narrow)
        layers["relu0"] = nn.ReLU()
        plan = (
            [(narrow, narrow, 1)] * self.BLOCKS_PER_WIDTH
            + [(narrow, wide, 2)]
            + [(wide, wide, 1)] * self.BLOCKS_PER_WIDTH
        )
        for k, (c_in, c_out, stride) in enumerate(plan, start=1):
            layers[f"block{k}"] = ResidualBlock(c_in, c_out, stride, self.norm)
        layers["global_max_pool"] = nn.AdaptiveMaxPool2d(1)
        layers["flatten"] = nn.Flatten()
        layers["linear"] = nn.Linear(wide, self.n_classes)
        self.layers = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(batch, n_classes)`` for images ``x`` of shape
        ``(batch, in_channels, H, W)``, any H, W >= 1."""
        _check_input_shape("ResNet15", x, (self.in_channels, "H", "W"))
        return self.layers(x)


def trace_shapes(
    model: nn.Module, input_shape: Sequence[int], *, leaves: bool = False
) -> list[tuple[str, tuple[int, ...]]]:
    """The output shape (without the batch axis) after each layer for one input of
    ``input_shape``, e.g. ``(3, 170, 360)``: appendix B.3's arithmetic, layer after layer.

    Returns ``[("input", input_shape), (name, shape), ...]`` in the order the layers run. By
    default the layers are the named stages of the model's ``layers`` (an ``nn.Sequential``:
    ``conv0``, ``relu0``, ``block1`` ... for :class:`ResNet15`) or of the model itself if it is
    an ``nn.Sequential``; with ``leaves=True`` (and for other models) every innermost module
    (each convolution, ReLU, normalisation, the shortcut projection ...). The model runs once on
    zeros, in eval mode and without gradients; its mode is restored. A wrong input shape raises
    the model's own ``ValueError``.
    """
    shape = tuple(input_shape)
    if len(shape) < 1 or not all(
        not isinstance(n, bool) and isinstance(n, (int, np.integer)) and n >= 1 for n in shape
    ):
        raise ValueError(
            f"input_shape must be a tuple of sizes >= 1 without the batch axis; got {input_shape!r}"
        )
    shape = tuple(int(n) for n in shape)
    stages = model if isinstance(model, nn.Sequential) else getattr(model, "layers", None)
    if not leaves and isinstance(stages, nn.Sequential):
        watched = list(stages.named_children())
    else:
        prefix = "layers." if isinstance(getattr(model, "layers", None), nn.Module) else ""
        watched = [
            (name[len(prefix):] if name.startswith(prefix) else name, m)
            for name, m in model.named_modules()
            if not any(True for _ in m.children()) and not isinstance(m, nn.Identity) and name
        ]
    records: list[tuple[str, tuple[int, ...]]] = [("input", shape)]

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            records.append((name, tuple(output.shape[1:])))
        return hook

    param = next(model.parameters(), None)
    x = torch.zeros((1, *shape), dtype=param.dtype if param is not None else torch.float32,
                    device=param.device if param is not None else None)
    handles = [m.register_forward_hook(hook_for(name)) for name, m in watched]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return records
