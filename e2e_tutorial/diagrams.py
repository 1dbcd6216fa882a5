"""Block diagrams of classification workflows (seminar section 1.2, figures 1, 2, 7 and 11).

A workflow is a left-to-right chain of labelled boxes joined by arrows. The first and the
last box are *data* (what goes in, what comes out) and are drawn in blue; the boxes between
them are *processing steps* and are drawn in grey. A step can be highlighted (orange) or
crossed out (dashed, with a red cross) to show what a workflow adds or removes.

Every patch and text this module draws carries a ``gid`` (``"box-<i>"``, ``"arrow-<i>"``,
``"label-<i>"``, ``"cross-<i>"``, ``i`` counting from 0) so that tests and readers can find
them again on the returned Axes.

Geometry is in inches when this module makes the figure itself (one data unit = one inch),
so the font always fits the boxes whatever the number of stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = [
    "TRADITIONAL_STAGES",
    "END_TO_END_STAGES",
    "REMOVED_BY_END_TO_END",
    "FCN_STAGES",
    "CNN_STAGES",
    "draw_workflow",
    "traditional_workflow",
    "end_to_end_workflow",
    "compare_workflows",
]

#: Seminar figure 1: the traditional workflow.
TRADITIONAL_STAGES: tuple[str, ...] = (
    "Detector\ndata",
    "Particle-flow\nreconstruction",
    "Feature\nengineering",
    "Classifier\n(FCN or BDT)",
    "Signal and\nbackground\nprobabilities",
)

#: Seminar figure 2: the end-to-end workflow.
END_TO_END_STAGES: tuple[str, ...] = (
    "Detector\ndata",
    "Convolutional\nneural network\n(CNN)",
    "Signal and\nbackground\nprobabilities",
)

#: Indices in :data:`TRADITIONAL_STAGES` of the steps an end-to-end workflow drops.
REMOVED_BY_END_TO_END: tuple[int, ...] = (1, 2)

#: Seminar figure 7: a fully-connected network classifies a feature vector (section 3).
FCN_STAGES: tuple[str, ...] = (
    "Feature vector\n$\\mathbf{x}_{\\mathrm{feature}}$",
    "Fully-connected\nnetwork\n(FCN)",
    "$(\\hat{y}_{\\mathrm{sig}},\\ \\hat{y}_{\\mathrm{bg}})$",
)

#: Seminar figure 11: a convolutional network classifies a detector image (section 4).
CNN_STAGES: tuple[str, ...] = (
    "Detector\nimage",
    "Convolutional\nneural network\n(CNN)",
    "$(\\hat{y}_{\\mathrm{sig}},\\ \\hat{y}_{\\mathrm{bg}})$",
)

# Box size and spacing, inches (data units of the figures made here).
BOX_WIDTH = 1.45
BOX_HEIGHT = 0.95
GAP = 0.5
MARGIN = 0.12
FONT_SIZE = 10.0

_DATA_STYLE = {"facecolor": "#dce8f5", "edgecolor": "#2f5d8a", "linewidth": 1.4}
_STEP_STYLE = {"facecolor": "#f2f2f2", "edgecolor": "#4d4d4d", "linewidth": 1.4}
_HIGHLIGHT_STYLE = {"facecolor": "#fde3c8", "edgecolor": "#d9661f", "linewidth": 2.4}
_CROSSED_STYLE = {"facecolor": "#fafafa", "edgecolor": "#a6a6a6", "linewidth": 1.2, "linestyle": "--"}
_CROSS_COLOR = "#c0392b"
_TEXT_COLOR = "#1a1a1a"
_CROSSED_TEXT_COLOR = "#8c8c8c"
_ARROW_COLOR = "#333333"


def _check_indices(name: str, indices: Sequence[int], n: int) -> set[int]:
    """Return ``indices`` as a set after checking each lies in ``range(n)``."""
    chosen = set()
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"{name} takes stage indices (int); got {i!r}")
        if not 0 <= i < n:
            raise ValueError(f"{name} index {i} is out of range for {n} stage(s)")
        chosen.add(i)
    return chosen


def draw_workflow(
    stages: Sequence[str],
    ax: Axes | None = None,
    *,
    highlight: Sequence[int] = (),
    crossed_out: Sequence[int] = (),
    width: float | None = None,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Draw ``stages`` as a left-to-right chain of boxes joined by arrows.

    Parameters
    ----------
    stages
        Box labels, first (input data) to last (output). Use ``"\\n"`` to break lines;
        matplotlib mathtext (``"$\\hat{y}$"``) works.
    ax
        Axes to draw on. ``None`` makes a new figure sized so that one data unit is one inch.
    highlight, crossed_out
        Indices of stages to draw highlighted, or crossed out (a step that is dropped).
        A stage cannot be both.
    width
        Total width in data units (inches) from the left edge of the first box to the right
        edge of the last; the arrows stretch to fill it. ``None`` uses the natural width
        ``n * BOX_WIDTH + (n - 1) * GAP``. Used to line up two workflows of different length.
    title
        Optional title above the diagram.

    Returns
    -------
    (figure, axes)
        The axes holds ``len(stages)`` boxes and ``len(stages) - 1`` arrows.
    """
    stages = list(stages)
    n = len(stages)
    if n == 0:
        raise ValueError("draw_workflow needs at least one stage label; got an empty list")
    for i, label in enumerate(stages):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"stage {i} has no label ({label!r}); every stage needs a text")
    highlighted = _check_indices("highlight", highlight, n)
    crossed = _check_indices("crossed_out", crossed_out, n)
    both = highlighted & crossed
    if both:
        raise ValueError(f"stage(s) {sorted(both)} are both highlighted and crossed out")

    natural = n * BOX_WIDTH + (n - 1) * GAP
    total = natural if width is None else float(width)
    if total < natural - 1e-9:
        raise ValueError(f"width={total} is narrower than the {n} boxes need ({natural:.2f})")
    gap = (total - n * BOX_WIDTH) / (n - 1) if n > 1 else 0.0

    title_space = 0.35 if title else 0.0
    if ax is None:
        fig, ax = plt.subplots(
            figsize=(total + 2 * MARGIN, BOX_HEIGHT + 2 * MARGIN + title_space),
            layout=None,
        )
        ax.set_position((0.0, 0.0, 1.0, 1.0))
    else:
        fig = ax.figure

    lefts = [i * (BOX_WIDTH + gap) for i in range(n)]
    for i, (x0, label) in enumerate(zip(lefts, stages)):
        if i in crossed:
            style = _CROSSED_STYLE
        elif i in highlighted:
            style = _HIGHLIGHT_STYLE
        elif i in (0, n - 1):
            style = _DATA_STYLE
        else:
            style = _STEP_STYLE
        box = FancyBboxPatch(
            (x0, 0.0),
            BOX_WIDTH,
            BOX_HEIGHT,
            boxstyle="round,pad=0,rounding_size=0.1",
            gid=f"box-{i}",
            zorder=2,
            **style,
        )
        ax.add_patch(box)
        ax.text(
            x0 + BOX_WIDTH / 2,
            BOX_HEIGHT / 2,
            label,
            ha="center",
            va="center",
            multialignment="center",
            fontsize=FONT_SIZE,
            linespacing=1.25,
            color=_CROSSED_TEXT_COLOR if i in crossed else _TEXT_COLOR,
            # A crossed-out label sits on a patch of the box colour, in front of the cross.
            bbox=(
                {"boxstyle": "square,pad=0.15", "facecolor": style["facecolor"], "edgecolor": "none"}
                if i in crossed
                else None
            ),
            gid=f"label-{i}",
            zorder=3,
        )
        if i in crossed:
            inset = 0.08
            for k, (ya, yb) in enumerate(((inset, BOX_HEIGHT - inset), (BOX_HEIGHT - inset, inset))):
                ax.add_line(
                    Line2D(
                        [x0 + inset, x0 + BOX_WIDTH - inset],
                        [ya, yb],
                        color=_CROSS_COLOR,
                        linewidth=2.0,
                        alpha=0.8,
                        solid_capstyle="round",
                        gid=f"cross-{i}" if k == 0 else f"cross-{i}-b",
                        zorder=2.5,
                    )
                )
    for i in range(n - 1):
        arrow = FancyArrowPatch(
            (lefts[i] + BOX_WIDTH, BOX_HEIGHT / 2),
            (lefts[i + 1], BOX_HEIGHT / 2),
            arrowstyle="-|>",
            mutation_scale=16,
            linewidth=1.6,
            color=_ARROW_COLOR,
            shrinkA=2,
            shrinkB=2,
            gid=f"arrow-{i}",
            zorder=1,
        )
        ax.add_patch(arrow)

    ax.set_xlim(-MARGIN, total + MARGIN)
    ax.set_ylim(-MARGIN, BOX_HEIGHT + MARGIN + title_space)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.text(
            -MARGIN / 2,
            BOX_HEIGHT + MARGIN + title_space / 2,
            title,
            ha="left",
            va="center",
            fontsize=FONT_SIZE + 1,
            fontweight="bold",
            color=_TEXT_COLOR,
            gid="title",
        )
    return fig, ax


def traditional_workflow(
    ax: Axes | None = None, *, cross_out_removed: bool = False, title: str | None = None
) -> tuple[Figure, Axes]:
    """Seminar figure 1: detector data -> particle flow -> features -> FCN/BDT -> probabilities.

    With ``cross_out_removed=True`` the two steps an end-to-end workflow drops
    (:data:`REMOVED_BY_END_TO_END`) are crossed out.
    """
    crossed = REMOVED_BY_END_TO_END if cross_out_removed else ()
    return draw_workflow(TRADITIONAL_STAGES, ax, crossed_out=crossed, title=title)


def end_to_end_workflow(
    ax: Axes | None = None, *, width: float | None = None, title: str | None = None
) -> tuple[Figure, Axes]:
    """Seminar figure 2: detector data -> CNN -> probabilities, with the CNN highlighted."""
    return draw_workflow(END_TO_END_STAGES, ax, highlight=(1,), width=width, title=title)


def compare_workflows() -> tuple[Figure, tuple[Axes, Axes]]:
    """Seminar figures 1 and 2 stacked: traditional above, end-to-end below.

    Both rows share one scale and their first and last boxes line up, so the end-to-end
    chain visibly replaces the three middle steps with one (highlighted). Returns ``(figure, (ax_traditional, ax_end_to_end))``.
    """
    n = len(TRADITIONAL_STAGES)
    total = n * BOX_WIDTH + (n - 1) * GAP
    row = BOX_HEIGHT + 2 * MARGIN + 0.35
    fig = plt.figure(figsize=(total + 2 * MARGIN, 2 * row + 0.1), layout=None)
    ax_top = fig.add_axes((0.0, 0.5, 1.0, 0.5))
    ax_bottom = fig.add_axes((0.0, 0.0, 1.0, 0.5))
    traditional_workflow(ax_top, title="Traditional: reconstruct, engineer features, then classify")
    end_to_end_workflow(
        ax_bottom, width=total, title="End-to-end: one network works on the detector data directly"
    )
    return fig, (ax_top, ax_bottom)
