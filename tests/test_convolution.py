"""Tests of e2e_tutorial.convolution: numpy convolution and pooling (seminar section 4,
appendix B) against torch over many shapes, Eq. 10 against torch's output shapes, toy examples
computed by hand, the one-element helper, and the error messages."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from e2e_tutorial import convolution as cv


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _random_pair(rng: np.random.Generator, low: int, high: int) -> tuple[int, int]:
    return int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))


# ---------------------------------------------------------------------------------------------
# Against torch, many random configurations
# ---------------------------------------------------------------------------------------------


def _conv_configs(seed: int, n: int):
    """``n`` random (x, weight, bias, padding, stride) whose kernel fits the padded input."""
    rng = np.random.default_rng(seed)
    made = 0
    while made < n:
        kernel = _random_pair(rng, 1, 5)
        padding = _random_pair(rng, 0, 3) if rng.random() < 0.7 else int(rng.integers(0, 3))
        stride = _random_pair(rng, 1, 4) if rng.random() < 0.7 else int(rng.integers(1, 4))
        hw = _random_pair(rng, 1, 13)
        p = (padding, padding) if isinstance(padding, int) else padding
        if kernel[0] > hw[0] + 2 * p[0] or kernel[1] > hw[1] + 2 * p[1]:
            continue
        c_in, c_out = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        batch = () if rng.random() < 0.3 else (int(rng.integers(1, 4)),)
        x = rng.normal(size=(*batch, c_in, *hw))
        weight = rng.normal(size=(c_out, c_in, *kernel))
        bias = rng.normal(size=c_out) if rng.random() < 0.6 else None
        made += 1
        yield x, weight, bias, padding, stride


@pytest.mark.parametrize("seed", range(8))
def test_conv2d_equals_torch_over_random_configurations(seed):
    for x, weight, bias, padding, stride in _conv_configs(seed, 40):  # 320 in all
        got = cv.conv2d(x, weight, bias, padding=padding, stride=stride)
        ref = F.conv2d(
            _t(x), _t(weight), None if bias is None else _t(bias), stride=stride, padding=padding
        ).numpy()
        assert got.shape == ref.shape, (x.shape, weight.shape, padding, stride)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_conv2d_single_equals_torch_with_one_channel(seed):
    rng = np.random.default_rng(100 + seed)
    for x, weight, _, padding, stride in _conv_configs(100 + seed, 30):
        image, kernel = x.reshape(-1, *x.shape[-2:])[0], weight[0, 0]
        b = float(rng.normal())
        got = cv.conv2d_single(image, kernel, padding=padding, stride=stride, bias=b)
        ref = F.conv2d(
            _t(image[None, None]), _t(kernel[None, None]), _t(np.array([b])),
            stride=stride, padding=padding,
        ).numpy()[0, 0]
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def _pool_configs(seed: int, n: int):
    rng = np.random.default_rng(seed)
    made = 0
    while made < n:
        kernel = _random_pair(rng, 1, 4)
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        stride = None if rng.random() < 0.3 else _random_pair(rng, 1, 3)
        hw = _random_pair(rng, 1, 12)
        if kernel[0] > hw[0] + 2 * padding[0] or kernel[1] > hw[1] + 2 * padding[1]:
            continue
        shape = (int(rng.integers(1, 4)), *hw) if rng.random() < 0.4 else (2, 3, *hw)
        made += 1
        yield rng.normal(size=shape), kernel, stride, padding


@pytest.mark.parametrize("seed", range(4))
def test_pooling_equals_torch_over_random_configurations(seed):
    for x, kernel, stride, padding in _pool_configs(200 + seed, 50):  # 200 in all, each twice
        for ours, theirs in ((cv.max_pool2d, F.max_pool2d), (cv.avg_pool2d, F.avg_pool2d)):
            got = ours(x, kernel, stride, padding)
            ref = theirs(_t(x), kernel, stride, padding).numpy()
            assert got.shape == ref.shape, (ours.__name__, x.shape, kernel, stride, padding)
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_pooling_keeps_the_channels_and_accepts_a_single_map():
    x = np.random.default_rng(3).normal(size=(5, 8, 6))
    assert cv.max_pool2d(x, 2).shape == (5, 4, 3)  # channels kept (Figure 14)
    np.testing.assert_array_equal(cv.max_pool2d(x[0], 2), cv.max_pool2d(x, 2)[0])


# ---------------------------------------------------------------------------------------------
# Eq. 10
# ---------------------------------------------------------------------------------------------


def test_eq10_equals_torch_output_sizes_over_a_grid():
    checked = 0
    for i, k, p, s in itertools.product(range(1, 12), range(1, 7), range(0, 4), range(1, 5)):
        if k > i + 2 * p:
            with pytest.raises(ValueError, match="larger than the padded input"):
                cv.conv_output_size(i, k, p, s)
            continue
        o = cv.conv_output_size(i, k, p, s)
        assert o == (i + 2 * p - k) // s + 1
        x, w = torch.zeros(1, 1, i, 1), torch.zeros(1, 1, k, 1)
        out = F.conv2d(x, w, stride=(s, 1), padding=(p, 0))
        assert out.shape[2] == o, (i, k, p, s)
        if p <= k // 2:  # torch's limit for pooling padding
            assert F.max_pool2d(torch.zeros(1, 1, i, k), k, (s, 1), (p, 0)).shape[2] == o
        checked += 1
    assert checked > 700


def test_eq10_special_cases_and_pairs():
    assert cv.conv_output_size(5, 3) == 3  # O = I - K + 1 (Figure 12's case)
    assert cv.conv_output_size(5, 3, p=1) == 5  # "same" padding keeps the size (B.1)
    assert cv.conv_output_size(170, 3, 1, 2) == 85  # stride 2 halves the ECAL image (B.2)
    assert cv.conv_output_size(360, 3, 1, 2) == 180
    assert cv.conv_output_size(7, 2, 0, 2) == 3  # the floor: the last column is left out
    assert cv.conv_output_shape((170, 360), 7, 3, 1) == (170, 360)
    assert cv.conv_output_shape((9, 10), (3, 1), (0, 2), (2, 3)) == (4, 5)


# ---------------------------------------------------------------------------------------------
# Toy examples, computed by hand
# ---------------------------------------------------------------------------------------------

TOY_IMAGE = np.array(
    [
        [1, 2, 0, 3],
        [4, 1, 2, 1],
        [0, 2, 3, 0],
        [1, 0, 1, 2],
    ]
)
# Deliberately not symmetric, so that correlation and true convolution differ (footnote 6).
TOY_KERNEL = np.array(
    [
        [1, 2, 0],
        [0, 1, 0],
        [0, 0, -1],
    ]
)


def test_toy_4x4_input_3x3_kernel_by_hand():
    """out[i, j] = x[i, j] + 2 x[i, j+1] + x[i+1, j+1] - x[i+2, j+2] (the kernel's non-zeros)."""
    expected = np.array(
        [
            [1 + 2 * 2 + 1 - 3, 2 + 2 * 0 + 2 - 0],  # = 3, 4
            [4 + 2 * 1 + 2 - 1, 1 + 2 * 2 + 3 - 2],  # = 7, 6
        ]
    )
    assert expected.tolist() == [[3, 4], [7, 6]]
    got = cv.conv2d_single(TOY_IMAGE, TOY_KERNEL)
    assert got.shape == (2, 2)  # Eq. 10: 4 - 3 + 1
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(cv.conv2d_single(TOY_IMAGE, TOY_KERNEL, bias=0.5), expected + 0.5)


def test_deep_learning_convolution_is_cross_correlation():
    """Footnote 6: what CNNs compute is scipy's correlate2d; true convolution flips the kernel."""
    got = cv.conv2d_single(TOY_IMAGE, TOY_KERNEL)
    correlation = scipy.signal.correlate2d(TOY_IMAGE, TOY_KERNEL, mode="valid")
    np.testing.assert_array_equal(got, correlation)
    true_conv = scipy.signal.convolve2d(TOY_IMAGE, TOY_KERNEL, mode="valid")
    assert not np.array_equal(got, true_conv)
    # by hand, with the flipped kernel [[-1, 0, 0], [0, 1, 0], [0, 2, 1]]: -1 + 1 + 2*2 + 3 = 7
    assert true_conv[0, 0] == 7
    np.testing.assert_array_equal(cv.conv2d_single(TOY_IMAGE, TOY_KERNEL[::-1, ::-1]), true_conv)


def test_toy_5x5_with_padding_and_stride_by_hand():
    """A 3x3 kernel of ones sums each 3x3 neighbourhood; padding 1 adds zeros around the
    5x5 image x[i, j] = 5 i + j, stride 2 keeps every other position: O = (5+2-3)//2 + 1 = 3."""
    image = np.arange(25).reshape(5, 5)
    expected = np.array(
        [
            [0 + 1 + 5 + 6, 1 + 2 + 3 + 6 + 7 + 8, 3 + 4 + 8 + 9],
            [
                5 + 6 + 10 + 11 + 15 + 16,
                6 + 7 + 8 + 11 + 12 + 13 + 16 + 17 + 18,
                8 + 9 + 13 + 14 + 18 + 19,
            ],
            [15 + 16 + 20 + 21, 16 + 17 + 18 + 21 + 22 + 23, 18 + 19 + 23 + 24],
        ]
    )
    assert expected.tolist() == [[12, 27, 24], [63, 108, 81], [72, 117, 84]]
    got = cv.conv2d_single(image, np.ones((3, 3)), padding=1, stride=2)
    np.testing.assert_array_equal(got, expected)
    # padding only: same size (B.1); the centre pixel is the full 3x3 sum 6+7+8+11+12+13+16+17+18
    same = cv.conv2d_single(image, np.ones((3, 3)), padding=1)
    assert same.shape == (5, 5) and same[2, 2] == 108
    # different stride per axis: rows every 2nd, columns every position
    np.testing.assert_array_equal(
        cv.conv2d_single(image, np.ones((3, 3)), padding=1, stride=(2, 1))[:, ::2], expected
    )


def test_toy_two_channels_summed_over_channels_by_hand():
    """Figure 13: each channel is convolved with its own kernel slice, then summed."""
    x = np.array(
        [
            [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
            [[1, 0, 1], [0, 1, 0], [1, 0, 1]],
        ]
    )
    kernel = np.array([[[1, 0], [0, 1]], [[0, 2], [2, 0]]])  # (C_in=2, 2, 2)
    channel0 = np.array([[1 + 5, 2 + 6], [4 + 8, 5 + 9]])  # x0[i,j] + x0[i+1,j+1]
    channel1 = np.array([[2 * 0 + 2 * 0, 2 * 1 + 2 * 1], [2 * 1 + 2 * 1, 2 * 0 + 2 * 0]])
    expected = channel0 + channel1
    assert expected.tolist() == [[6, 12], [16, 14]]
    got = cv.conv2d(x, kernel[None], bias=np.array([-1.0]))  # one kernel -> one output map
    assert got.shape == (1, 2, 2)
    np.testing.assert_array_equal(got[0], expected - 1)
    step = cv.conv_step(x, kernel, 0, 1, bias=-1.0)
    np.testing.assert_array_equal(step.channel_sums, [8, 4])
    assert step.total == 11


def test_toy_pooling_by_hand():
    """Figure 14: 2x2 non-overlapping patches; also a 3x3 window with stride 1."""
    x = np.array(
        [
            [1, 3, 2, 1],
            [4, 2, 0, 1],
            [5, 1, 7, 8],
            [0, 6, 3, 2],
        ]
    )
    np.testing.assert_array_equal(cv.max_pool2d(x, 2), [[4, 2], [6, 8]])
    np.testing.assert_array_equal(
        cv.avg_pool2d(x, 2),
        [[(1 + 3 + 4 + 2) / 4, (2 + 1 + 0 + 1) / 4], [(5 + 1 + 0 + 6) / 4, (7 + 8 + 3 + 2) / 4]],
    )
    np.testing.assert_array_equal(cv.max_pool2d(x, 3, stride=1), [[7, 8], [7, 8]])
    # padding counts as -inf for max (never wins) and as 0 for the mean
    ones = np.ones((2, 2))
    np.testing.assert_array_equal(cv.max_pool2d(-ones, 3, stride=1, padding=1), -ones)
    np.testing.assert_array_equal(cv.avg_pool2d(ones, 3, stride=1, padding=1), np.full((2, 2), 4 / 9))


def test_pad2d():
    got = cv.pad2d(np.ones((1, 2, 3)), (1, 2))
    assert got.shape == (1, 4, 7)
    assert got.sum() == 6 and got[0, 1:3, 2:5].sum() == 6


# ---------------------------------------------------------------------------------------------
# One output element (for Figures 12 and 13)
# ---------------------------------------------------------------------------------------------


def test_conv_step_by_hand_on_the_toy_example():
    step = cv.conv_step(TOY_IMAGE, TOY_KERNEL, 1, 0)
    assert (step.row, step.col, step.top, step.left) == (1, 0, 1, 0)
    np.testing.assert_array_equal(step.window, [[4, 1, 2], [0, 2, 3], [1, 0, 1]])
    np.testing.assert_array_equal(step.kernel, TOY_KERNEL)
    np.testing.assert_array_equal(step.product, [[4, 2, 0], [0, 2, 0], [0, 0, -1]])
    assert step.total == 7 and step.bias == 0.0


def test_conv_step_matches_conv_everywhere_with_padding_and_stride():
    rng = np.random.default_rng(5)
    image, kernel = rng.normal(size=(7, 6)), rng.normal(size=(3, 2))
    out = cv.conv2d_single(image, kernel, padding=(1, 2), stride=(2, 3), bias=0.25)
    for r, c in itertools.product(range(out.shape[0]), range(out.shape[1])):
        step = cv.conv_step(image, kernel, r, c, padding=(1, 2), stride=(2, 3), bias=0.25)
        assert (step.top, step.left) == (2 * r, 3 * c)
        np.testing.assert_allclose(step.total, out[r, c], rtol=1e-12)
        np.testing.assert_allclose(step.product, step.window * kernel)
    corner = cv.conv_step(image, kernel, 0, 0, padding=(1, 2), stride=(2, 3))
    assert np.all(corner.window[0] == 0) and np.all(corner.window[:, :2] == 0)  # zero padding
    x = rng.normal(size=(3, 5, 5))
    w = rng.normal(size=(3, 3, 3))
    np.testing.assert_allclose(cv.conv_step(x, w, 2, 1).total, cv.conv2d(x, w[None])[0, 2, 1])


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: cv.conv_output_size(4, 5),
            "kernel size k = 5 is larger than the padded input i + 2p = 4 + 2*0 = 4",
        ),
        (lambda: cv.conv_output_size(4, 3, 0, 0), "stride s must be an integer >= 1; got 0"),
        (lambda: cv.conv_output_size(4, 3, -1), "padding p must be an integer >= 0; got -1"),
        (lambda: cv.conv_output_size(0, 1), "input size i must be an integer >= 1; got 0"),
        (lambda: cv.conv_output_size(4.0, 3), "input size i must be an integer >= 1; got 4.0"),
        (
            lambda: cv.conv2d_single(np.ones((3, 3)), np.ones((4, 2))),
            "kernel of size (4, 2) is larger than the padded input (3, 3) "
            "(input (3, 3) plus 2 x padding (0, 0))",
        ),
        (
            lambda: cv.conv2d_single(np.ones((3, 3)), np.ones((2, 2)), stride=0),
            "stride must be an integer >= 1 or a pair of them (along H, along W); got 0",
        ),
        (
            lambda: cv.conv2d(np.ones((2, 5, 5)), np.ones((1, 2, 3, 3)), stride=(1, -2)),
            "stride must be an integer >= 1 or a pair of them (along H, along W); got (1, -2)",
        ),
        (
            lambda: cv.conv2d(np.ones((2, 5, 5)), np.ones((1, 2, 3, 3)), padding=(1, 1, 1)),
            "padding must be an integer >= 0 or a pair of them (along H, along W); got (1, 1, 1)",
        ),
        (
            lambda: cv.conv2d_single(np.ones((1, 3, 3)), np.ones((2, 2))),
            "image must be a 2-D array (H, W); got shape (1, 3, 3)",
        ),
        (
            lambda: cv.conv2d_single(np.ones((3, 3)), np.ones(2)),
            "kernel must be a non-empty 2-D array (kH, kW); got shape (2,)",
        ),
        (
            lambda: cv.conv2d(np.ones((5, 5)), np.ones((1, 1, 3, 3))),
            "x must have shape (C_in, H, W) or (N, C_in, H, W); got shape (5, 5)",
        ),
        (
            lambda: cv.conv2d(np.ones((1, 5, 5)), np.ones((1, 3, 3))),
            "weight must be a non-empty array of shape (C_out, C_in, kH, kW); got shape (1, 3, 3)",
        ),
        (
            lambda: cv.conv2d(np.ones((4, 3, 5, 5)), np.ones((8, 2, 3, 3))),
            "x has C_in = 3 channels (shape (4, 3, 5, 5)) but weight expects C_in = 2 "
            "(shape (8, 2, 3, 3)",
        ),
        (
            lambda: cv.conv2d(np.ones((2, 5, 5)), np.ones((4, 2, 3, 3)), bias=np.ones(3)),
            "bias must have shape (C_out,) = (4,); got shape (3,)",
        ),
        (lambda: cv.conv2d(np.full((1, 3, 3), np.nan), np.ones((1, 1, 2, 2))), "x must be finite"),
        (
            lambda: cv.max_pool2d(np.ones((1, 4, 4)), 2, padding=2),
            "padding (2, 2) must be at most half the pooling kernel (2, 2)",
        ),
        (
            lambda: cv.avg_pool2d(np.ones((1, 1, 1, 4, 4)), 2),
            "x must have shape (H, W), (C, H, W) or (N, C, H, W); got shape (1, 1, 1, 4, 4)",
        ),
        (lambda: cv.max_pool2d(np.ones((1, 4, 4)), 0), "kernel_size must be an integer >= 1"),
        (
            lambda: cv.max_pool2d(np.ones((1, 1, 4)), 2),
            "kernel of size (2, 2) is larger than the padded input (1, 4)",
        ),
        (
            lambda: cv.conv_step(TOY_IMAGE, TOY_KERNEL, 2, 0),
            "row must be an integer in [0, 1] (the output is 2 x 2); got 2",
        ),
        (
            lambda: cv.conv_step(np.ones((2, 4, 4)), np.ones((3, 2, 2)), 0, 0),
            "image has C = 2 channels (shape (2, 4, 4)) but the kernel has 3 (shape (3, 2, 2))",
        ),
        (
            lambda: cv.conv_step(np.ones((2, 4, 4)), np.ones((2, 2)), 0, 0),
            "image (H, W) needs a kernel (kH, kW), image (C, H, W) a kernel (C, kH, kW); "
            "got image (2, 4, 4) and kernel (2, 2)",
        ),
    ],
)
def test_errors_name_the_value_and_what_was_expected(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_torch_agrees_that_an_oversized_kernel_is_an_error():
    with pytest.raises(RuntimeError):
        F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 4, 2))
