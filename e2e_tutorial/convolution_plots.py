"""Figures and the kernel-scanner widget of the convolution lessons: chapter 4 (seminar section
4.1, Figure 12: a kernel sliding over an ECAL crop) and appendix B (padding, stride and Eq. 10
drawn on small grids of numbers).

The arithmetic lives in :mod:`e2e_tutorial.convolution`; this module only draws it.

Functions
    :func:`draw_value_grid`: a small 2-D array as one square per pixel with its value written
    inside (appendix B); :func:`scan_position`: the (row, column) of output pixel number
    ``position``; :func:`partial_feature_map`: the feature map filled in up to that position;
    :func:`draw_kernel_scan`: two panels, the input with the kernel's window and the map so far.
Widget
    :class:`KernelScanner`: a kernel drop-down and a position slider redrawing
    :func:`draw_kernel_scan` (chapter 4, section 4.1).

Units: the images are ECAL energies in GeV; kernel weights are pure numbers, so a feature map
is in GeV too. Rows run along eta, columns along phi. Bad input raises ``ValueError`` naming
the value and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from e2e_tutorial import convolution

__all__ = [
    "draw_value_grid",
    "scan_position",
    "partial_feature_map",
    "draw_kernel_scan",
    "KernelScanner",
]

_WINDOW_COLOR = "#d9661f"  # the kernel's window: the orange of chapter 4's figures


# ---------------------------------------------------------------------------------------------
# Grids of numbers (appendix B)
# ---------------------------------------------------------------------------------------------


def draw_value_grid(ax, values: ArrayLike, title: str, *, shade: ArrayLike | None = None,
                    fmt: str = "{:.0f}"):
    """A small 2-D array drawn as one square per pixel, its value written inside (appendix B).

    Pixel ``[r, c]`` is the square centred on ``(x, y) = (c, r)``, row 0 at the top, with thin
    grid lines between pixels and no tick labels. The squares are shaded in blue by ``values``,
    or by ``shade`` (same shape) when given, e.g. to leave zero padding white; the text is
    ``fmt.format(value)``. Returns the axes.
    """
    values = np.asarray(values)
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"values must be a non-empty 2-D array (rows, columns); got shape "
                         f"{values.shape}")
    colours = np.asarray(values if shade is None else shade, dtype=np.float64)
    if colours.shape != values.shape:
        raise ValueError(f"shade must have the shape of values {values.shape}; got shape "
                         f"{colours.shape}")
    ax.imshow(colours, cmap="Blues", vmin=0, vmax=max(1, colours.max()) * 1.6)
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8)
    ax.set_xticks(np.arange(values.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(values.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.4", lw=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=10)
    return ax


# ---------------------------------------------------------------------------------------------
# A kernel scanning an image (chapter 4, section 4.1)
# ---------------------------------------------------------------------------------------------


def _check_scan(image: ArrayLike, kernel: ArrayLike,
                padding: int) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[int, int]]:
    """``image`` and ``kernel`` as float arrays and the shape of their feature map (Eq. 10)."""
    if isinstance(padding, (bool, np.bool_)) or not isinstance(padding, (int, np.integer)) \
            or padding < 0:
        raise ValueError(f"padding must be an integer >= 0 (rings of zeros around the image); "
                         f"got {padding!r}")
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array (eta rows, phi columns); got shape "
                         f"{image.shape}")
    if kernel.ndim != 2 or 0 in kernel.shape:
        raise ValueError(f"kernel must be a non-empty 2-D array (kH, kW); got shape "
                         f"{kernel.shape}")
    # Raises a ValueError naming both sizes when the kernel does not fit the padded image.
    out_shape = convolution.conv_output_shape(image.shape, kernel.shape, padding)
    return image, kernel, out_shape


def scan_position(position: int, map_shape: tuple[int, int]) -> tuple[int, int]:
    """(row, column) of output pixel number ``position`` of a map of shape ``map_shape``,
    counted in the order the kernel visits them: left to right, then top to bottom."""
    n_rows, n_cols = map_shape
    n = n_rows * n_cols
    if isinstance(position, (bool, np.bool_)) or not isinstance(position, (int, np.integer)) \
            or not 0 <= position < n:
        raise ValueError(f"position must be an integer in [0, {n - 1}] (the feature map is "
                         f"{n_rows} x {n_cols}); got {position!r}")
    row, col = divmod(int(position), n_cols)
    return row, col


def partial_feature_map(image: ArrayLike, kernel: ArrayLike, position: int, *,
                        padding: int = 0) -> NDArray[np.float64]:
    """The feature map of ``kernel`` on ``image`` (:func:`convolution.conv2d_single`, stride 1)
    filled in up to kernel position ``position`` (row-major, included) and NaN after it: what
    the convolution has computed so far. In the units of ``image`` (GeV for an ECAL crop)."""
    image, kernel, out_shape = _check_scan(image, kernel, padding)
    scan_position(position, out_shape)
    full = convolution.conv2d_single(image, kernel, padding=padding)
    so_far = np.full(out_shape, np.nan)
    so_far.flat[: position + 1] = full.flat[: position + 1]
    return so_far


def draw_kernel_scan(fig, image: ArrayLike, kernel: ArrayLike, position: int, *,
                     padding: int = 0, name: str = "kernel", image_title: str = "ECAL crop"):
    """Chapter 4, section 4.1: a kernel at position ``position`` of its scan over ``image``.

    Clears ``fig`` and draws two panels. Left: ``image`` (GeV, rows eta, columns phi) with the
    kernel's window outlined in orange (gid ``"kernel-window"``; with ``padding`` it may reach
    past the image's edge, into the zeros). Right: :func:`partial_feature_map`, red positive and
    blue negative on the symmetric scale of the complete map, and the value of this position's
    pixel in GeV in the title. Positions count row-major over the feature map (stride 1).
    Returns (left axes, right axes).
    """
    from matplotlib.patches import Rectangle

    image, kernel, out_shape = _check_scan(image, kernel, padding)
    row, col = scan_position(position, out_shape)
    step = convolution.conv_step(image, kernel, row, col, padding=padding)
    full = convolution.conv2d_single(image, kernel, padding=padding)
    so_far = partial_feature_map(image, kernel, position, padding=padding)
    limit = np.abs(full).max()
    fig.clear()
    ax_in, ax_out = fig.subplots(1, 2)
    ax_in.imshow(image, cmap="Blues")
    # conv_step gives the window's corner in the padded image; the image's pixel (0, 0) is at
    # padded pixel (padding, padding).
    ax_in.add_patch(Rectangle((step.left - padding - 0.5, step.top - padding - 0.5),
                              kernel.shape[1], kernel.shape[0], fill=False, ec=_WINDOW_COLOR,
                              lw=2.5, gid="kernel-window"))
    ax_in.set_title(f"{image_title}, window at row {step.row}, column {step.col}", fontsize=9)
    ax_out.imshow(so_far, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax_out.set_title(f"'{name}' map so far; this pixel {step.total:.2f} GeV", fontsize=9)
    for ax in (ax_in, ax_out):
        ax.set(xlabel="column (φ)", ylabel="row (η)")
    return ax_in, ax_out


class KernelScanner:
    """An ipywidgets kernel scanner (chapter 4, section 4.1): a kernel drop-down and a position
    slider redrawing :func:`draw_kernel_scan` into one matplotlib figure shown in an ``Output``
    widget. Display it with ``display(scanner)`` or by leaving it as the last expression of a
    cell.

    ``image``: a 2-D array (GeV, rows eta, columns phi); ``kernels``: name -> 2-D kernel, all
    of one shape, so that the slider covers the same positions for each; ``padding``: rings of
    zeros around the image; ``initial``: the kernel shown first (default the first one);
    ``position``: the position shown first (default the middle of the scan).

    Attributes: ``kernel`` (Dropdown), ``position`` (IntSlider), ``output`` (Output), ``widget``
    (the VBox shown), ``figure`` (the matplotlib Figure), ``shown`` ((kernel name, position)
    drawn last). The static book shows only the first drawing: pair it with a static figure of
    the complete maps.
    """

    def __init__(self, image: ArrayLike, kernels: Mapping[str, ArrayLike], *, padding: int = 0,
                 initial: str | None = None, position: int | None = None,
                 figsize: tuple[float, float] = (8.5, 3.8), dpi: int = 80):
        import ipywidgets as widgets
        from matplotlib.figure import Figure

        if not isinstance(kernels, Mapping) or not kernels:
            raise ValueError(f"kernels must be a non-empty mapping name -> 2-D kernel; got "
                             f"{kernels!r}")
        checked = {name: _check_scan(image, k, padding) for name, k in kernels.items()}
        shapes = {name: k.shape for name, (_, k, _) in checked.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"kernels must all have the same shape, so that the slider covers "
                             f"the same positions; got {shapes}")
        initial = next(iter(kernels)) if initial is None else initial
        if initial not in kernels:
            raise ValueError(f"initial kernel {initial!r} is not one of {list(kernels)}")
        self.image = checked[initial][0]
        self.kernels = {name: k for name, (_, k, _) in checked.items()}
        self.padding = int(padding)
        map_shape = checked[initial][2]
        n_positions = map_shape[0] * map_shape[1]
        position = n_positions // 2 if position is None else position
        scan_position(position, map_shape)

        self.kernel = widgets.Dropdown(options=list(self.kernels), value=initial,
                                       description="kernel")
        self.position = widgets.IntSlider(value=int(position), min=0, max=n_positions - 1,
                                          description="position", continuous_update=False)
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox([self.kernel, self.position]), self.output])
        # A figure outside pyplot: nothing is shown unless the scanner displays it.
        self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        self.shown: tuple[str, int] | None = None
        self.kernel.observe(self._changed, names="value")
        self.position.observe(self._changed, names="value")
        self.draw()

    def _changed(self, change) -> None:
        self.draw()

    def draw(self) -> None:
        """Draw the kernel and position the widgets select, and show it in the output widget."""
        from IPython.display import clear_output, display

        name, position = self.kernel.value, int(self.position.value)
        draw_kernel_scan(self.figure, self.image, self.kernels[name], position,
                         padding=self.padding, name=name)
        self.shown = (name, position)
        with self.output:
            clear_output(wait=True)
            display(self.figure)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
