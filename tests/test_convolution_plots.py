"""Tests of e2e_tutorial.convolution_plots: the kernel-scan figure and widget of chapter 4
(seminar 4.1, Figure 12) and the value grids of appendix B, drawn with the Agg backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from e2e_tutorial import convolution
from e2e_tutorial.convolution_plots import (
    KernelScanner,
    draw_kernel_scan,
    draw_value_grid,
    partial_feature_map,
    scan_position,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture()
def image():
    """A made-up 6 x 7 'crop' (GeV), rows eta, columns phi."""
    return np.random.default_rng(7).exponential(2.0, size=(6, 7))


KERNELS = {
    "blur": np.full((3, 3), 1 / 9),
    "spot": np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]),
}


def _window(ax):
    (rect,) = [p for p in ax.patches if p.get_gid() == "kernel-window"]
    return rect


def _by_hand(image, kernel, row, col, padding):
    """Output pixel (row, col) from the definition: a loop over the kernel's pixels."""
    padded = np.zeros((image.shape[0] + 2 * padding, image.shape[1] + 2 * padding))
    padded[padding : padding + image.shape[0], padding : padding + image.shape[1]] = image
    return sum(padded[row + u, col + v] * kernel[u, v]
               for u in range(kernel.shape[0]) for v in range(kernel.shape[1]))


# ---------------------------------------------------------------------------------------------
# The scan figure
# ---------------------------------------------------------------------------------------------


def test_scan_position_is_row_major():
    assert scan_position(0, (6, 7)) == (0, 0)
    assert scan_position(6, (6, 7)) == (0, 6)
    assert scan_position(7, (6, 7)) == (1, 0)
    assert scan_position(41, (6, 7)) == (5, 6)


@pytest.mark.parametrize("padding", [0, 1])
def test_scan_figure_shows_the_window_and_the_map_so_far(image, padding):
    kernel = KERNELS["spot"]
    full = convolution.conv2d_single(image, kernel, padding=padding)
    n_cols = full.shape[1]
    row, col = 2, 3
    position = row * n_cols + col
    fig = Figure()
    ax_in, ax_out = draw_kernel_scan(fig, image, kernel, position, padding=padding, name="spot")

    # The window covers image pixels row - padding .. row - padding + 2 (and the same in
    # columns): its corner sits half a pixel before that, and it is 3 x 3 pixels.
    rect = _window(ax_in)
    assert rect.get_xy() == (col - padding - 0.5, row - padding - 0.5)
    assert (rect.get_width(), rect.get_height()) == (3, 3)
    if padding == 1:  # "same" padding: the window is centred on the output pixel's own place
        assert (rect.get_x() + 1.5, rect.get_y() + 1.5) == (col, row)
    np.testing.assert_array_equal(ax_in.images[0].get_array(), image)

    # The right panel: the full map up to the position, NaN after it.
    drawn = np.asarray(ax_out.images[0].get_array().filled(np.nan), dtype=np.float64)
    assert drawn.shape == full.shape
    np.testing.assert_allclose(drawn.flat[: position + 1], full.flat[: position + 1])
    assert np.all(np.isnan(drawn.flat[position + 1 :]))
    limit = np.abs(full).max()
    assert ax_out.images[0].get_clim() == pytest.approx((-limit, limit))

    value = _by_hand(image, kernel, row, col, padding)
    assert f"this pixel {value:.2f} GeV" in ax_out.get_title()
    assert "'spot'" in ax_out.get_title()
    assert f"row {row}, column {col}" in ax_in.get_title()
    for ax in (ax_in, ax_out):
        assert "φ" in ax.get_xlabel() and "η" in ax.get_ylabel()

    draw_kernel_scan(fig, image, kernel, 0, padding=padding)
    assert len(fig.axes) == 2  # redrawn, not stacked


def test_partial_map_at_the_ends_of_the_scan(image):
    kernel = KERNELS["blur"]
    full = convolution.conv2d_single(image, kernel)
    first = partial_feature_map(image, kernel, 0)
    assert first[0, 0] == pytest.approx(image[:3, :3].mean())
    assert np.count_nonzero(~np.isnan(first)) == 1
    last = partial_feature_map(image, kernel, full.size - 1)
    np.testing.assert_allclose(last, full)


# ---------------------------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------------------------


def test_kernel_scanner_redraws_on_every_change(image):
    scanner = KernelScanner(image, KERNELS, padding=1, initial="spot")
    n_positions = image.size  # padding 1 keeps a 3 x 3 kernel's map at the image's size
    assert scanner.position.max == n_positions - 1
    assert scanner.shown == ("spot", n_positions // 2)  # the first drawing, for the static book
    assert list(scanner.kernel.options) == ["blur", "spot"]

    scanner.position.value = 9  # row 1, column 2
    assert scanner.shown == ("spot", 9)
    ax_in, ax_out = scanner.figure.axes
    assert _window(ax_in).get_xy() == (2 - 1 - 0.5, 1 - 1 - 0.5)
    assert "'spot'" in ax_out.get_title()

    scanner.kernel.value = "blur"
    assert scanner.shown == ("blur", 9)
    assert len(scanner.figure.axes) == 2  # redrawn, not stacked
    ax_in, ax_out = scanner.figure.axes
    assert "'blur'" in ax_out.get_title()
    drawn = np.asarray(ax_out.images[0].get_array().filled(np.nan), dtype=np.float64)
    full = convolution.conv2d_single(image, KERNELS["blur"], padding=1)
    np.testing.assert_allclose(drawn.flat[:10], full.flat[:10])
    assert np.all(np.isnan(drawn.flat[10:]))


def test_kernel_scanner_defaults(image):
    scanner = KernelScanner(image, KERNELS)  # no padding: the map is 4 x 5
    assert scanner.shown == ("blur", 10) and scanner.position.max == 19
    assert KernelScanner(image, KERNELS, position=0).shown == ("blur", 0)


# ---------------------------------------------------------------------------------------------
# Grids of numbers (appendix B)
# ---------------------------------------------------------------------------------------------


def test_value_grid_writes_each_value_in_its_pixel():
    values = np.arange(12).reshape(3, 4)
    fig, ax = plt.subplots()
    assert draw_value_grid(ax, values, "a grid") is ax
    assert len(ax.texts) == values.size
    written = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert written == {(r, c): f"{values[r, c]:.0f}" for r in range(3) for c in range(4)}
    assert ax.get_title() == "a grid"
    np.testing.assert_array_equal(ax.images[0].get_array(), values)


def test_value_grid_format_and_shade():
    values = np.array([[0.25, 1.5], [2.0, 0.0]])
    shade = np.where(values == 0, 0.0, 1.0)
    fig, ax = plt.subplots()
    draw_value_grid(ax, values, "shaded", shade=shade, fmt="{:.2f}")
    assert sorted(t.get_text() for t in ax.texts) == ["0.00", "0.25", "1.50", "2.00"]
    np.testing.assert_array_equal(ax.images[0].get_array(), shade)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_scan_input_is_named(image):
    kernel = KERNELS["spot"]
    fig = Figure()
    with pytest.raises(ValueError, match=r"image must be a 2-D array.*\(2, 6, 7\)"):
        draw_kernel_scan(fig, np.stack([image, image]), kernel, 0)
    with pytest.raises(ValueError, match=r"kernel must be a non-empty 2-D array.*\(9,\)"):
        draw_kernel_scan(fig, image, kernel.ravel(), 0)
    with pytest.raises(ValueError, match=r"kernel size k = 7 is larger than the padded input.*= 6"):
        draw_kernel_scan(fig, image, np.ones((7, 7)), 0)
    with pytest.raises(ValueError, match=r"padding must be an integer >= 0.*-1"):
        draw_kernel_scan(fig, image, kernel, 0, padding=-1)
    for bad in (20, -1, 2.0, True):  # the unpadded map is 4 x 5: positions 0 .. 19
        with pytest.raises(ValueError, match=rf"position must be an integer in \[0, 19\].*got {bad!r}"):
            draw_kernel_scan(fig, image, kernel, bad)
    with pytest.raises(ValueError, match=r"position must be an integer in \[0, 41\].*got 42"):
        partial_feature_map(image, kernel, 42, padding=1)


def test_bad_scanner_input_is_named(image):
    with pytest.raises(ValueError, match=r"non-empty mapping.*got \{\}"):
        KernelScanner(image, {})
    with pytest.raises(ValueError, match=r"non-empty mapping"):
        KernelScanner(image, [np.ones((3, 3))])
    with pytest.raises(ValueError, match=r"initial kernel 'edge' is not one of \['blur', 'spot'\]"):
        KernelScanner(image, KERNELS, initial="edge")
    with pytest.raises(ValueError, match=r"same shape.*'wide': \(3, 5\)"):
        KernelScanner(image, {**KERNELS, "wide": np.ones((3, 5))})
    with pytest.raises(ValueError, match=r"kernel size k = 9 is larger"):
        KernelScanner(image, {"big": np.ones((9, 9))}, padding=1)
    with pytest.raises(ValueError, match=r"position must be an integer in \[0, 19\].*got 20"):
        KernelScanner(image, KERNELS, position=20)


def test_bad_grid_input_is_named():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"values must be a non-empty 2-D array.*\(4,\)"):
        draw_value_grid(ax, np.arange(4), "1-D")
    with pytest.raises(ValueError, match=r"shade must have the shape of values \(2, 2\).*\(3, 3\)"):
        draw_value_grid(ax, np.ones((2, 2)), "mismatch", shade=np.ones((3, 3)))

