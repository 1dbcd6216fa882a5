"""Discrete convolution and pooling written from scratch in numpy (seminar section 4, appendix B).

This module uses only numpy so that every step of a convolutional layer can be looked at; the
torch layers used for real training (``nn.Conv2d``, ``nn.MaxPool2d``) compute the same numbers,
and the tests check one against the other.

What deep learning calls *convolution* (seminar section 4.1)
-------------------------------------------------------------
A small kernel slides over the input from left to right and top to bottom; at every position
the kernel and the input pixels under it are multiplied element by element and the products are
summed (plus one bias per kernel). Strictly this is a *cross-correlation*: a textbook
convolution would flip the kernel in both spatial directions first (seminar footnote 6). Since
the kernel's weights are learned, the flip makes no difference in practice, and torch, like every
deep-learning library, computes the cross-correlation. So does this module::

    out[o, i, j] = bias[o] + sum_{c, u, v} x[c, i*s_h + u, j*s_w + v] * weight[o, c, u, v]

(``x`` zero-padded first). With several input channels the per-channel products are summed
over the channel axis as well (seminar Figure 13), so one kernel gives one output map; with
``C_out`` kernels the output has ``C_out`` channels (Figure 15).

* Zero padding (appendix B.1): ``p`` rows/columns of zeros on *each* side of an axis.
* Stride (appendix B.2): the kernel moves ``s`` pixels at a time.
* Output size along each axis (appendix B.3, Eq. 10): ``O = floor((I + 2p - K) / s) + 1``,
  :func:`conv_output_size`.
* Pooling (section 4.2, Figure 14): the same sliding window, but taking the maximum
  (:func:`max_pool2d`) or the mean (:func:`avg_pool2d`) of each channel separately, with no
  learnable parameters; the channel count is unchanged. The stride defaults to the kernel size
  (non-overlapping patches), as in torch.

Conventions: arrays are ``(H, W)`` for one single-channel image, ``(C, H, W)`` for one
multi-channel image and ``(N, C, H, W)`` for a batch, torch's layout; kernels of several
channels are ``(C_out, C_in, kH, kW)``. ``padding``, ``stride`` and pooling ``kernel_size`` are
an integer or a pair ``(along H, along W)``. Everything is computed in float64 and vectorised:
:func:`numpy.lib.stride_tricks.sliding_window_view` gives every kernel position as a view
without copying, and one :func:`numpy.tensordot` / :func:`numpy.einsum` does all the
multiply-adds. Bad input raises ``ValueError`` naming the value and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "conv_output_size",
    "conv_output_shape",
    "pad2d",
    "conv2d_single",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "ConvStep",
    "conv_step",
]

Array = NDArray[np.float64]
IntOrPair = int | Sequence[int]


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def _check_int(name: str, value: object, minimum: int) -> int:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _pair(name: str, value: IntOrPair, minimum: int) -> tuple[int, int]:
    """``value`` as ``(along H, along W)``: an integer is used for both axes."""
    if _is_int(value):
        pair = (value, value)
    else:
        try:
            pair = tuple(value)  # type: ignore[arg-type]
        except TypeError:
            pair = ()
    if len(pair) != 2 or not all(_is_int(v) and v >= minimum for v in pair):
        raise ValueError(
            f"{name} must be an integer >= {minimum} or a pair of them (along H, along W); "
            f"got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _float_array(x: ArrayLike, name: str) -> Array:
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        n_bad = np.count_nonzero(~np.isfinite(a))
        raise ValueError(f"{name} must be finite; it has {n_bad} non-finite value(s)")
    return a


# ---------------------------------------------------------------------------------------------
# Convolution arithmetic (appendix B.3)
# ---------------------------------------------------------------------------------------------


def conv_output_size(i: int, k: int, p: int = 0, s: int = 1) -> int:
    """Output size along one axis, seminar Eq. 10: ``O = floor((I + 2p - K) / s) + 1``.

    ``i``: input size I, ``k``: kernel size K, ``p``: zero padding on each side, ``s``: stride.
    With ``p = 0`` and ``s = 1`` it reduces to ``O = I - K + 1`` (Figure 12). The same formula
    gives the output size of pooling (torch's default ``ceil_mode=False``). Raises
    ``ValueError`` when the kernel does not fit into the padded input (``K > I + 2p``).
    """
    i = _check_int("input size i", i, 1)
    k = _check_int("kernel size k", k, 1)
    p = _check_int("padding p", p, 0)
    s = _check_int("stride s", s, 1)
    if k > i + 2 * p:
        raise ValueError(
            f"kernel size k = {k} is larger than the padded input i + 2p = {i} + 2*{p} = "
            f"{i + 2 * p}; the kernel must fit inside the padded input"
        )
    return (i + 2 * p - k) // s + 1


def conv_output_shape(
    input_hw: Sequence[int], kernel_size: IntOrPair, padding: IntOrPair = 0, stride: IntOrPair = 1
) -> tuple[int, int]:
    """``(O_h, O_w)``: Eq. 10 applied along each of the two spatial axes."""
    try:
        h, w = input_hw
    except (TypeError, ValueError):
        raise ValueError(f"input_hw must be a pair (H, W); got {input_hw!r}") from None
    kh, kw = _pair("kernel_size", kernel_size, 1)
    ph, pw = _pair("padding", padding, 0)
    sh, sw = _pair("stride", stride, 1)
    return conv_output_size(h, kh, ph, sh), conv_output_size(w, kw, pw, sw)


def _check_fits(
    input_hw: tuple[int, int], kernel_hw: tuple[int, int], padding: tuple[int, int]
) -> None:
    padded = (input_hw[0] + 2 * padding[0], input_hw[1] + 2 * padding[1])
    if kernel_hw[0] > padded[0] or kernel_hw[1] > padded[1]:
        raise ValueError(
            f"kernel of size {kernel_hw} is larger than the padded input {padded} "
            f"(input {input_hw} plus 2 x padding {padding}); the kernel must fit inside it"
        )


# ---------------------------------------------------------------------------------------------
# Zero padding (appendix B.1) and the sliding window
# ---------------------------------------------------------------------------------------------


def pad2d(x: ArrayLike, padding: IntOrPair, value: float = 0.0) -> Array:
    """``x`` with ``padding`` rows (top and bottom) and columns (left and right) of ``value``
    added around its last two axes (seminar appendix B.1; zeros by default)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 axes (..., H, W); got shape {x.shape}")
    ph, pw = _pair("padding", padding, 0)
    widths = [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)]
    return np.pad(x, widths, mode="constant", constant_values=value)


def _windows(
    x: Array, kernel_hw: tuple[int, int], padding: tuple[int, int], stride: tuple[int, int],
    fill: float = 0.0,
) -> Array:
    """Every kernel position of the padded ``x`` (..., H, W) as a read-only view of shape
    ``(..., O_h, O_w, kH, kW)``: element ``[..., i, j, u, v]`` is padded pixel
    ``[..., i*s_h + u, j*s_w + v]``. No copy and no Python loop over pixels."""
    _check_fits(x.shape[-2:], kernel_hw, padding)
    xp = pad2d(x, padding, fill) if padding != (0, 0) else x
    view = sliding_window_view(xp, kernel_hw, axis=(-2, -1))
    return view[..., :: stride[0], :: stride[1], :, :]


# ---------------------------------------------------------------------------------------------
# Convolution (section 4.1, Figures 12, 13 and 15)
# ---------------------------------------------------------------------------------------------


def conv2d_single(
    image: ArrayLike, kernel: ArrayLike, padding: IntOrPair = 0, stride: IntOrPair = 1,
    bias: float = 0.0,
) -> Array:
    """One single-channel image convolved with one kernel (seminar Figure 12).

    ``image`` (H, W), ``kernel`` (kH, kW); returns the output feature map of shape
    ``(O_h, O_w)`` from Eq. 10: ``out[i, j] = bias + sum_{u,v} image[i*s_h+u, j*s_w+v] *
    kernel[u, v]`` on the zero-padded image (a cross-correlation, footnote 6).
    """
    image = _float_array(image, "image")
    kernel = _float_array(kernel, "kernel")
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array (H, W); got shape {image.shape}")
    if kernel.ndim != 2 or 0 in kernel.shape:
        raise ValueError(f"kernel must be a non-empty 2-D array (kH, kW); got shape {kernel.shape}")
    win = _windows(
        image, kernel.shape, _pair("padding", padding, 0), _pair("stride", stride, 1)
    )
    return np.einsum("ijuv,uv->ij", win, kernel) + float(bias)


def conv2d(
    x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None, padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Array:
    """A convolutional layer: ``C_out`` kernels over a ``C_in``-channel input (Figures 13, 15).

    ``x`` is ``(C_in, H, W)`` or a batch ``(N, C_in, H, W)``; ``weight`` is
    ``(C_out, C_in, kH, kW)`` (one ``C_in``-channel kernel per output map, torch's layout);
    ``bias`` is ``(C_out,)`` or None. Returns ``(C_out, O_h, O_w)`` or ``(N, C_out, O_h, O_w)``
    with ``O`` from Eq. 10::

        out[n, o, i, j] = bias[o] + sum_{c,u,v} x_pad[n, c, i*s_h+u, j*s_w+v] * weight[o, c, u, v]

    i.e. each kernel's per-channel products are also summed over the channel axis. Equals
    ``torch.nn.functional.conv2d`` (a cross-correlation, seminar footnote 6).
    """
    x = _float_array(x, "x")
    weight = _float_array(weight, "weight")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (C_in, H, W) or (N, C_in, H, W); got shape {x.shape}")
    if weight.ndim != 4 or 0 in weight.shape:
        raise ValueError(
            f"weight must be a non-empty array of shape (C_out, C_in, kH, kW); got shape "
            f"{weight.shape}"
        )
    single = x.ndim == 3
    xb = x[None] if single else x
    if xb.shape[1] != weight.shape[1]:
        raise ValueError(
            f"x has C_in = {xb.shape[1]} channels (shape {x.shape}) but weight expects "
            f"C_in = {weight.shape[1]} (shape {weight.shape}, i.e. (C_out, C_in, kH, kW))"
        )
    win = _windows(xb, weight.shape[2:], _pair("padding", padding, 0), _pair("stride", stride, 1))
    # win: (N, C_in, O_h, O_w, kH, kW); contract C_in, kH, kW with the kernels' axes.
    out = np.moveaxis(np.tensordot(win, weight, axes=([1, 4, 5], [1, 2, 3])), -1, 1)
    if bias is not None:
        b = _float_array(bias, "bias")
        if b.shape != (weight.shape[0],):
            raise ValueError(
                f"bias must have shape (C_out,) = ({weight.shape[0]},); got shape {b.shape}"
            )
        out = out + b[None, :, None, None]
    return out[0] if single else out


# ---------------------------------------------------------------------------------------------
# Pooling (section 4.2, Figure 14)
# ---------------------------------------------------------------------------------------------


def _pool_windows(
    x: ArrayLike, kernel_size: IntOrPair, stride: IntOrPair | None, padding: IntOrPair,
    fill: float,
) -> Array:
    x = _float_array(x, "x")
    if x.ndim not in (2, 3, 4):
        raise ValueError(
            f"x must have shape (H, W), (C, H, W) or (N, C, H, W); got shape {x.shape}"
        )
    k = _pair("kernel_size", kernel_size, 1)
    s = k if stride is None else _pair("stride", stride, 1)
    p = _pair("padding", padding, 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"padding {p} must be at most half the pooling kernel {k} on each axis (as in "
            f"torch); otherwise a window could lie entirely in the padding"
        )
    return _windows(x, k, p, s, fill)


def max_pool2d(
    x: ArrayLike, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Array:
    """Max pooling (seminar Figure 14): the largest value in each window, channel by channel.

    ``x`` is ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``; pooling acts on the last two axes,
    so the channel count is kept. ``stride`` defaults to ``kernel_size`` (non-overlapping
    patches). Padding counts as minus infinity, so it never wins. Output size from Eq. 10;
    equals ``torch.nn.functional.max_pool2d``.
    """
    return _pool_windows(x, kernel_size, stride, padding, -np.inf).max(axis=(-2, -1))


def avg_pool2d(
    x: ArrayLike, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
) -> Array:
    """Average pooling (seminar section 4.2): the mean of each window, channel by channel.

    Arguments as for :func:`max_pool2d`. Padding counts as zeros and is included in the mean
    (torch's default ``count_include_pad=True``); equals ``torch.nn.functional.avg_pool2d``.
    """
    return _pool_windows(x, kernel_size, stride, padding, 0.0).mean(axis=(-2, -1))


# ---------------------------------------------------------------------------------------------
# One output element, step by step (for drawing Figures 12 and 13)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvStep:
    """The intermediate products behind one output element ``out[row, col]``.

    ``top``, ``left``: where the window's top-left pixel lies in the *padded* input;
    ``window``: the input pixels under the kernel, ``kernel``: the kernel, ``product``:
    ``window * kernel`` element by element (all three ``(kH, kW)``, or ``(C, kH, kW)`` for a
    multi-channel input); ``bias``; ``total = product.sum() + bias``, the output value.
    """

    row: int
    col: int
    top: int
    left: int
    window: Array
    kernel: Array
    product: Array
    bias: float
    total: float

    @property
    def channel_sums(self) -> Array:
        """The sum of the products in each channel, before they are added over channels
        (Figure 13); shape ``(C,)``, or ``(1,)`` for a single-channel input."""
        return self.product.reshape(-1, *self.product.shape[-2:]).sum(axis=(-2, -1))


def conv_step(
    image: ArrayLike, kernel: ArrayLike, row: int, col: int, padding: IntOrPair = 0,
    stride: IntOrPair = 1, bias: float = 0.0,
) -> ConvStep:
    """The window, kernel, element-wise product and sum that give output pixel ``(row, col)``.

    ``image`` (H, W) with ``kernel`` (kH, kW) as in Figure 12, or ``image`` (C, H, W) with one
    kernel ``(C, kH, kW)`` as in Figure 13. ``total`` equals ``conv2d_single(...)[row, col]``
    (or ``conv2d(image, kernel[None])[0, row, col]``).
    """
    image = _float_array(image, "image")
    kernel = _float_array(kernel, "kernel")
    if image.ndim not in (2, 3) or kernel.ndim != image.ndim or 0 in kernel.shape:
        raise ValueError(
            f"image (H, W) needs a kernel (kH, kW), image (C, H, W) a kernel (C, kH, kW); got "
            f"image {image.shape} and kernel {kernel.shape}"
        )
    if image.ndim == 3 and image.shape[0] != kernel.shape[0]:
        raise ValueError(
            f"image has C = {image.shape[0]} channels (shape {image.shape}) but the kernel has "
            f"{kernel.shape[0]} (shape {kernel.shape})"
        )
    p = _pair("padding", padding, 0)
    s = _pair("stride", stride, 1)
    out_h, out_w = conv_output_shape(image.shape[-2:], kernel.shape[-2:], p, s)
    for name, value, n in (("row", row, out_h), ("col", col, out_w)):
        if not _is_int(value) or not 0 <= value < n:
            raise ValueError(
                f"{name} must be an integer in [0, {n - 1}] (the output is {out_h} x {out_w}); "
                f"got {value!r}"
            )
    top, left = int(row) * s[0], int(col) * s[1]
    padded = pad2d(image, p)
    window = padded[..., top : top + kernel.shape[-2], left : left + kernel.shape[-1]].copy()
    product = window * kernel
    return ConvStep(
        row=int(row), col=int(col), top=top, left=left, window=window, kernel=kernel.copy(),
        product=product, bias=float(bias), total=float(product.sum() + bias),
    )
