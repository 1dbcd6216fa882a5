"""The course's plots of networks and training results (seminar sections 3 and 5).

Every chapter that trains a classifier draws its results with the functions here, so that
the figures of the book look alike and follow the same conventions:

* :func:`training_curves` -- loss, accuracy and AUC per epoch from one or several
  :class:`e2e_tutorial.training.History` objects.
* :func:`class_histograms`, :func:`score_distributions` -- one normalised histogram per class
  (drawn with ``mplhep.histplot``): input features, masses, or the classifier's signal score.
* :func:`roc_summary` and :func:`roc_curves` -- ROC curves in the seminar's convention
  (Figure 17: background rejection ``1 - eps_b`` on the y axis against signal efficiency
  ``eps_s`` on the x axis), with AUC, background rejection at chosen signal efficiencies and
  bootstrap uncertainties from :func:`e2e_tutorial.metrics.bootstrap`; :func:`roc_table` prints
  the numbers.
* :func:`fcn_diagram` -- the architecture of a fully-connected network (seminar Figure 9),
  drawn from an actual :class:`e2e_tutorial.models.FCN` (its ``layer_shapes()``).
* :func:`relu_plot` -- the ReLU activation (Figure 10).
* :func:`output_bars` -- labels and predicted probabilities of a few events (Figure 8).
* :func:`logistic_loss`, :func:`logistic_gradient`, :func:`logistic_loss_grid`,
  :func:`logistic_descent` and :func:`loss_surface` -- a two-parameter classifier whose loss
  can be drawn as a landscape, with the path that gradient descent takes across it (seminar
  sections 3.2.2-3.2.3 and appendix A.3.2). The model and its gradient are those of
  :mod:`e2e_tutorial.numpy_nn`, not a second implementation.

Conventions
-----------
* Labels are class indices, **signal first** (0 = signal), as everywhere in the course
  (:mod:`e2e_tutorial.metrics`). ``class_names[c]`` names class ``c``; a process name of
  :data:`e2e_tutorial.generation.PROCESSES` (``"h"``, ``"gg"``, ``"gj"``) is shown with its
  plot label and the colour of :data:`PROCESS_COLORS`, any other string as it is.
* Every function takes an optional ``ax`` (or ``axes``) to draw on and otherwise makes a
  figure sized for a book page; it returns ``(figure, axes)``.
* Every artist that a test or a reader may want to find again carries a ``gid``, listed in
  each function's docstring (e.g. ``"roc-0"``, ``"node-1-5"``).
* Bad input raises ``ValueError`` naming the value and what was expected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Circle, FancyBboxPatch, Patch
from numpy.typing import ArrayLike, NDArray

from e2e_tutorial import generation, metrics, numpy_nn

__all__ = [
    "PROCESS_COLORS",
    "class_label",
    "class_color",
    "training_curves",
    "class_histograms",
    "score_distributions",
    "FEATURE_LABELS",
    "FEATURE_RANGES",
    "feature_histograms",
    "RocSummary",
    "roc_summary",
    "roc_curves",
    "roc_table",
    "fcn_diagram",
    "drawn_nodes",
    "relu_plot",
    "output_bars",
    "DescentPath",
    "logistic_loss",
    "logistic_gradient",
    "logistic_loss_grid",
    "logistic_descent",
    "loss_surface",
]

#: Colour of each process in every plot of the course (Okabe-Ito palette, colour-blind safe):
#: signal vermillion, gamma gamma blue, gamma + jet green.
PROCESS_COLORS: dict[str, str] = {"h": "#D55E00", "gg": "#0072B2", "gj": "#009E73"}

#: Colours for anything that is not a process (runs, tasks), in order.
_CYCLE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

#: Default signal efficiencies at which :func:`roc_summary` quotes the background rejection.
WORKING_POINTS = (0.5, 0.8)

#: Axis label of each kinematic feature of the course (``EventDataset.feature_names``).
FEATURE_LABELS: dict[str, str] = {
    "pt1_over_m": r"$p_{\mathrm{T}1} / m_{\gamma\gamma}$",
    "eta1": r"$\eta_1$",
    "pt2_over_m": r"$p_{\mathrm{T}2} / m_{\gamma\gamma}$",
    "eta2": r"$\eta_2$",
    "cos_dphi": r"$\cos \Delta\phi_{12}$",
}

#: Plot range of each kinematic feature: the lower ends of the momentum fractions are the
#: selection cuts pT1 > m/3 and pT2 > m/4, the pseudorapidities stop at the selection's
#: |eta| < 1.44 (study.md section 2).
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "pt1_over_m": (1 / 3, 1.5),
    "eta1": (-1.44, 1.44),
    "pt2_over_m": (0.25, 0.75),
    "eta2": (-1.44, 1.44),
    "cos_dphi": (-1.0, 1.0),
}

_EPS_S = r"Signal efficiency $\varepsilon_\mathrm{s}$"
_REJ_B = r"Background rejection $1 - \varepsilon_\mathrm{b}$"
_SCORE = r"Signal score $\hat{y}_\mathrm{sig}$"


# ---------------------------------------------------------------------------------------------
# Names and colours
# ---------------------------------------------------------------------------------------------


def class_label(name: str) -> str:
    """Plot label of a class: the process label for ``"h"``, ``"gg"``, ``"gj"``, else ``name``."""
    info = generation.PROCESSES.get(name)
    return info.label if info is not None else str(name)


def class_color(name: str, index: int) -> str:
    """Colour of class ``name``: :data:`PROCESS_COLORS` for a process, else the ``index``-th of
    a fixed colour-blind-safe cycle."""
    return PROCESS_COLORS.get(name, _CYCLE[index % len(_CYCLE)])


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _class_indices(labels: ArrayLike, n_values: int, class_names: Sequence[str]) -> NDArray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n_values:
        raise ValueError(
            f"labels must be a 1-D array with one class index per value ({n_values}); got shape "
            f"{labels.shape}"
        )
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices (0 = signal); got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(
            f"labels must lie in [0, {len(class_names)}) for class_names {tuple(class_names)}; "
            f"got values from {labels.min()} to {labels.max()}"
        )
    return labels


# ---------------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------------

_PANELS = {
    "loss": "Loss (mean cross-entropy)",
    "accuracy": "Validation accuracy",
    "auc": "Validation AUC",
}


def training_curves(
    histories: Any,
    *,
    panels: Sequence[str] = ("loss", "accuracy", "auc"),
    axes: Sequence[Axes] | None = None,
    colors: Mapping[str, str] | None = None,
    chance_loss: float | None = None,
) -> tuple[Figure, NDArray]:
    """Per-epoch curves of one or several trainings, one panel per quantity.

    ``histories``: a :class:`~e2e_tutorial.training.History`, or a mapping ``name -> History``
    (one colour per run, named in the legend). ``panels``: any of ``"loss"`` (training loss
    solid, validation loss dashed), ``"accuracy"`` and ``"auc"`` (validation set), in the order
    wanted. ``chance_loss``: draw the loss of a classifier that always answers ``1/C`` (ln 2
    for two classes) as a dotted reference line; the AUC panel always shows 0.5 (random).

    gids: ``"curve-loss-train-<name>"``, ``"curve-loss-val-<name>"``,
    ``"curve-accuracy-<name>"``, ``"curve-auc-<name>"``, reference lines ``"reference-loss"``
    and ``"reference-auc"``. Returns ``(figure, array of axes)``.
    """
    if isinstance(histories, Mapping):
        runs = dict(histories)
    else:
        runs = {"": histories}
    if not runs:
        raise ValueError("histories is empty; give a History or a mapping name -> History")
    for name, h in runs.items():
        if not hasattr(h, "as_arrays") or len(h) == 0:
            raise ValueError(f"history {name!r} holds no epochs; train for at least one epoch first")
    unknown = [p for p in panels if p not in _PANELS]
    if unknown or not panels:
        raise ValueError(f"panels must be some of {tuple(_PANELS)}; got {tuple(panels)}")
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels) + 0.6, 3.5),
                                 layout="constrained", squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(np.asarray(axes, dtype=object))
        if len(axes) != len(panels):
            raise ValueError(f"need one Axes per panel ({len(panels)}); got {len(axes)}")
        fig = axes[0].figure
    max_epoch = 1
    for k, (name, h) in enumerate(runs.items()):
        a = h.as_arrays()
        color = (colors or {}).get(name, _CYCLE[k % len(_CYCLE)])
        label = name or None
        max_epoch = max(max_epoch, int(a["epoch"].max()))
        for ax, panel in zip(axes, panels):
            if panel == "loss":
                ax.plot(a["epoch"], a["train_loss"], "-o", ms=3, color=color, gid=f"curve-loss-train-{name}",
                        label=f"{label}, training loss" if label else "training loss")
                ax.plot(a["epoch"], a["val_loss"], "--s", ms=3, color=color, gid=f"curve-loss-val-{name}",
                        label=f"{label}, validation loss" if label else "validation loss")
            else:
                key = "val_accuracy" if panel == "accuracy" else "val_auc"
                ax.plot(a["epoch"], a[key], "-o", ms=3, color=color, gid=f"curve-{panel}-{name}",
                        label=label if "loss" not in panels else None)
    for ax, panel in zip(axes, panels):
        if panel == "loss" and chance_loss is not None:
            ax.axhline(chance_loss, color="0.4", ls=":", lw=1.2, gid="reference-loss",
                       label="loss of always answering 1/C")
        if panel == "auc":
            ax.axhline(0.5, color="0.4", ls=":", lw=1.2, gid="reference-auc", label="random AUC")
        ax.set_xlabel("Epoch")
        ax.set_ylabel(_PANELS[panel])
        ax.set_xlim(0.5, max_epoch + 0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    # One legend for the whole figure, below the panels.
    handles, labels = [], []
    for ax in axes:
        for hdl, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(hdl)
                labels.append(lab)
    if handles and isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(handles)),
                   fontsize=8, frameon=False)
    elif handles:
        axes[0].legend(handles, labels, fontsize=7.5)
    return fig, np.asarray(axes)


# ---------------------------------------------------------------------------------------------
# Histograms per class
# ---------------------------------------------------------------------------------------------


def class_histograms(
    values: ArrayLike,
    labels: ArrayLike,
    class_names: Sequence[str],
    *,
    bins: int | ArrayLike = 30,
    range: tuple[float, float] | None = None,
    ax: Axes | None = None,
    xlabel: str = "",
    ylabel: str = "Fraction of events per bin",
    logy: bool = False,
    legend: bool = True,
    overflow: bool = False,
) -> tuple[Figure, Axes]:
    """One histogram per class of ``values``, each normalised to the class's event count.

    ``labels[i]`` is the class index of ``values[i]`` (0 = signal); ``class_names`` names the
    classes in that order. Each class's bins add up to the fraction of its events inside
    ``range`` (1 when none fall outside), so classes of different size compare directly;
    with ``overflow`` the values beyond the range are counted in the first or last bin, so the
    bins always add up to 1. Drawn with ``mplhep.histplot``: signal filled, backgrounds as
    outlines. ``bins`` and ``range`` are those of ``numpy.histogram`` (``range`` defaults to
    that of all values).

    gids: ``"hist-<c>"`` for class ``c``. Returns ``(figure, axes)``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, one number per event; got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite")
    labels = _class_indices(labels, values.shape[0], class_names)
    if range is None:
        range = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    edges = np.histogram_bin_edges(values, bins=bins, range=range)
    if overflow:
        values = np.clip(values, edges[0], edges[-1])
    fig, ax = _new_axes(ax, (4.6, 3.2))
    for c, name in enumerate(class_names):
        v = values[labels == c]
        if v.size == 0:
            continue
        counts, _ = np.histogram(v, bins=edges)
        fraction = counts / v.size
        color = class_color(name, c)
        style = {"histtype": "fill", "alpha": 0.35} if c == 0 else {"histtype": "step", "lw": 1.8}
        art = mplhep.histplot(fraction, edges, ax=ax, color=color, label=class_label(name),
                              flow="none", **style)
        art[0].stairs.set_gid(f"hist-{c}")
        if c == 0:  # an outline on the filled signal keeps it readable where classes overlap
            ax.stairs(fraction, edges, color=color, lw=1.5)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, None)
    if legend:
        ax.legend(fontsize=8.5)
    return fig, ax


def score_distributions(
    scores: ArrayLike,
    labels: ArrayLike,
    class_names: Sequence[str],
    *,
    bins: int = 20,
    ax: Axes | None = None,
    logy: bool = False,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Distribution of the signal score ``y_hat_sig`` in [0, 1], one histogram per true class.

    A thin wrapper of :func:`class_histograms` with the score's range and axis label. A good
    classifier piles the signal (class 0) up near 1 and the backgrounds near 0.
    """
    fig, ax = class_histograms(scores, labels, class_names, bins=bins, range=(0.0, 1.0), ax=ax,
                               xlabel=_SCORE, logy=logy)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def feature_histograms(
    features: ArrayLike,
    labels: ArrayLike,
    class_names: Sequence[str],
    feature_names: Sequence[str],
    *,
    bins: int = 25,
    ncols: int = 3,
    logy: Sequence[str] = (),
) -> tuple[Figure, NDArray]:
    """One panel of :func:`class_histograms` per feature (column of ``features``, shape
    ``(n_events, n_features)``), axis labels and ranges from :data:`FEATURE_LABELS` and
    :data:`FEATURE_RANGES` where known; the last bin of each panel also holds the events
    beyond its range (overflow), so every class's bins add up to 1. The features named in
    ``logy`` get a logarithmic y axis. Unused panels of the grid are hidden; the legend is in
    the first panel. Returns ``(figure, axes)`` with ``axes`` of shape ``(nrows, ncols)``."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(feature_names):
        raise ValueError(
            f"features must have shape (n_events, {len(feature_names)}) to match feature_names; "
            f"got {features.shape}"
        )
    nrows = -(-len(feature_names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols + 0.4, 2.6 * nrows),
                             layout="constrained", squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(feature_names):
            ax.set_visible(False)
            continue
        name = feature_names[k]
        class_histograms(features[:, k], labels, class_names, bins=bins, ax=ax,
                         range=FEATURE_RANGES.get(name), overflow=True,
                         xlabel=FEATURE_LABELS.get(name, name), legend=k == 0, logy=name in logy,
                         ylabel="Fraction of events per bin" if k % ncols == 0 else "")
    return fig, axes


# ---------------------------------------------------------------------------------------------
# ROC curves (seminar Figure 17)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RocSummary:
    """A classifier's ROC curve and its numbers, with bootstrap uncertainties.

    Made by :func:`roc_summary`. Efficiencies and rejections are fractions in [0, 1].
    """

    name: str  #: label of the classifier or task, used in legends and tables
    curve: metrics.RocCurve  #: the ROC curve of the whole sample
    auc: float  #: area under the curve of the whole sample
    auc_std: float  #: bootstrap standard deviation of the AUC
    working_points: NDArray[np.float64]  #: signal efficiencies eps_s of the quoted rejections
    rejection: NDArray[np.float64]  #: background rejection 1 - eps_b at each working point
    rejection_std: NDArray[np.float64]  #: their bootstrap standard deviations
    band_efficiency: NDArray[np.float64]  #: grid of signal efficiencies of the band
    band_low: NDArray[np.float64]  #: lower edge of the central bootstrap interval of 1 - eps_b
    band_high: NDArray[np.float64]  #: upper edge
    level: float  #: probability content of the band (0.68 = +-1 sigma)
    n_signal: int  #: signal events in the sample
    n_background: int  #: background events in the sample
    n_bootstrap: int  #: bootstrap resamples


def roc_summary(
    y: ArrayLike,
    score: ArrayLike,
    *,
    n_bootstrap: int,
    seed: int,
    name: str = "",
    working_points: Sequence[float] = WORKING_POINTS,
    n_grid: int = 100,
    level: float = 0.68,
    signal: int = 0,
) -> RocSummary:
    """ROC curve, AUC and background rejection at ``working_points``, with bootstrap errors.

    ``y``: class indices (0 = signal) or one-hot rows; ``score``: larger = more signal-like.
    One stratified bootstrap (:func:`e2e_tutorial.metrics.bootstrap`, ``n_bootstrap``
    resamples, ``seed``) gives at once the spread of the AUC, of the rejection at each working
    point and, on a grid of ``n_grid`` signal efficiencies, the central ``level`` interval of
    the rejection drawn as a band by :func:`roc_curves`. The central values are those of the
    whole sample (:func:`~e2e_tutorial.metrics.auc`,
    :func:`~e2e_tutorial.metrics.background_rejection_at`).
    """
    wps = np.asarray(working_points, dtype=np.float64)
    if wps.ndim != 1 or wps.size == 0 or np.any((wps <= 0) | (wps > 1)):
        raise ValueError(f"working_points must be signal efficiencies in (0, 1]; got {working_points}")
    if int(n_grid) != n_grid or n_grid < 2:
        raise ValueError(f"n_grid must be an integer >= 2; got {n_grid!r}")
    grid = np.linspace(1.0 / n_grid, 1.0, int(n_grid))
    targets = np.concatenate([grid, wps])
    curve = metrics.roc(y, score, signal=signal)
    auc = metrics.auc(y, score, signal=signal)
    rejection = np.atleast_1d(metrics.background_rejection_at(y, score, wps, signal=signal))
    resampled: list[NDArray] = []

    def auc_and_rejections(y_b: NDArray, s_b: NDArray) -> float:
        resampled.append(np.atleast_1d(metrics.background_rejection_at(y_b, s_b, targets, signal=signal)))
        return metrics.auc(y_b, s_b, signal=signal)

    boot = metrics.bootstrap(auc_and_rejections, y, score, n=n_bootstrap, seed=seed, level=level)
    rej = np.vstack(resampled)
    half_tail = 50.0 * (1.0 - level)
    low, high = np.percentile(rej[:, : grid.size], [half_tail, 100.0 - half_tail], axis=0)
    is_sig = metrics.signal_mask(y, signal)
    return RocSummary(
        name=name, curve=curve, auc=auc, auc_std=boot.std, working_points=wps, rejection=rejection,
        rejection_std=rej[:, grid.size :].std(axis=0, ddof=1), band_efficiency=grid,
        band_low=low, band_high=high, level=float(level), n_signal=int(is_sig.sum()),
        n_background=int((~is_sig).sum()), n_bootstrap=int(n_bootstrap),
    )


def _summaries(summaries: Any) -> list[RocSummary]:
    if isinstance(summaries, RocSummary):
        return [summaries]
    if isinstance(summaries, Mapping):
        out = []
        for name, s in summaries.items():
            if not isinstance(s, RocSummary):
                raise ValueError(f"summaries[{name!r}] is {type(s).__name__}; expected a RocSummary")
            out.append(s if s.name == name else dataclasses.replace(s, name=name))
        return out
    out = list(summaries)
    bad = [type(s).__name__ for s in out if not isinstance(s, RocSummary)]
    if bad or not out:
        raise ValueError(f"expected RocSummary objects (from roc_summary); got {bad or 'none'}")
    return out


def roc_curves(
    summaries: Any,
    *,
    ax: Axes | None = None,
    colors: Sequence[str] | None = None,
    band: bool = True,
    working_points: bool = True,
    random_line: bool = True,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """ROC curves in the seminar's convention (Figure 17): background rejection against signal
    efficiency, both from 0 to 1. A better classifier bulges towards the top-right corner.

    ``summaries``: a :class:`RocSummary`, a sequence of them, or a mapping ``name -> summary``.
    Each curve's legend entry gives its AUC with the bootstrap standard deviation; ``band``
    shades the central bootstrap interval, ``working_points`` marks the quoted rejections,
    ``random_line`` draws a classifier that guesses (rejection = 1 - efficiency).

    gids: ``"roc-<i>"`` (curves, in the order given), ``"band-<i>"``, ``"wp-<i>"``,
    ``"roc-random"``. Returns ``(figure, axes)``.
    """
    items = _summaries(summaries)
    fig, ax = _new_axes(ax, (4.6, 4.2))
    if random_line:
        ax.plot([0, 1], [1, 0], ls=":", color="0.45", lw=1.2, gid="roc-random", label="random guess")
    for i, s in enumerate(items):
        color = colors[i] if colors is not None else _CYCLE[i % len(_CYCLE)]
        label = f"AUC = {s.auc:.3f} ± {s.auc_std:.3f}"
        if s.name:
            label = f"{s.name}\n{label}"
        if band:
            ax.fill_between(s.band_efficiency, s.band_low, s.band_high, color=color, alpha=0.25,
                            lw=0, gid=f"band-{i}")
        ax.plot(s.curve.signal_efficiency, s.curve.background_rejection, color=color, lw=1.8,
                gid=f"roc-{i}", label=label)
        if working_points:
            ax.errorbar(s.working_points, s.rejection, yerr=s.rejection_std, fmt="o", ms=4.5,
                        color=color, mec="white", mew=0.8, capsize=2.5, gid=f"wp-{i}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(_EPS_S)
    ax.set_ylabel(_REJ_B)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax


def roc_table(summaries: Any) -> str:
    """The numbers of :func:`roc_summary` as a plain-text table, one row per classifier:
    events, AUC and the background rejection at each working point, each +- its bootstrap
    standard deviation."""
    items = _summaries(summaries)
    wps = items[0].working_points
    if any(not np.array_equal(s.working_points, wps) for s in items):
        raise ValueError("all summaries must quote the same working points")
    width = max(12, *(len(s.name) for s in items))
    head = [f"{'':<{width}}", "  sig/bkg", "          AUC"]
    head += [f"  1-eps_b at eps_s={w:.0%}".replace("%", " %") for w in wps]
    lines = ["".join(head)]
    for s in items:
        row = [f"{s.name:<{width}}", f"{s.n_signal:>5}/{s.n_background:<4}",
               f"  {s.auc:.3f} ± {s.auc_std:.3f}"]
        row += [f"{'':>9}{r:.3f} ± {e:.3f}" for r, e in zip(s.rejection, s.rejection_std)]
        lines.append("".join(row))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Seminar Figure 9: the architecture of a fully-connected network
# ---------------------------------------------------------------------------------------------


def _layer_shapes(model: Any) -> list[tuple[int, int]]:
    shapes = model.layer_shapes() if hasattr(model, "layer_shapes") else model
    try:
        shapes = [(int(a), int(b)) for a, b in shapes]
    except (TypeError, ValueError):
        raise ValueError(
            f"expected a model with layer_shapes() or a list of (n_prev, n) pairs; got {model!r}"
        ) from None
    if not shapes or any(a < 1 or b < 1 for a, b in shapes):
        raise ValueError(f"layer shapes must be non-empty pairs of sizes >= 1; got {shapes}")
    for k in range(1, len(shapes)):
        if shapes[k][0] != shapes[k - 1][1]:
            raise ValueError(
                f"layer {k + 1} takes {shapes[k][0]} inputs but layer {k} has {shapes[k - 1][1]} "
                f"neurons: the shapes {shapes} do not chain"
            )
    return shapes


def _shown(n: int, max_nodes: int) -> list[int]:
    """Neuron indices drawn for a layer of ``n``: all, or the first and last ones."""
    if n <= max_nodes:
        return list(range(n))
    top = (max_nodes + 1) // 2
    return list(range(top)) + list(range(n - (max_nodes - top), n))


def fcn_diagram(
    model: Any,
    *,
    ax: Axes | None = None,
    max_nodes: int = 8,
    input_labels: Sequence[str] | None = None,
    output_labels: Sequence[str] | None = None,
    show_weights: bool = False,
) -> tuple[Figure, Axes]:
    """Seminar Figure 9, drawn from a network: neurons as circles, every neuron joined to every
    neuron of the previous layer.

    ``model``: an :class:`~e2e_tutorial.models.FCN` (anything with ``layer_shapes()``) or its
    list of ``(n_prev, n)`` weight shapes. Layers with more than ``max_nodes`` neurons show
    their first and last neurons with an ellipsis between; the title above each layer gives its
    true size, and the text below each block of connections the shapes of ``W`` and ``b``
    (seminar Eqs. 6-7). Hidden neurons carry a hinge (ReLU, Figure 10); the output layer sits
    in a box marked softmax (Eq. 3). ``input_labels`` (one per feature) and ``output_labels``
    (one per class; default ``y_hat_sig``, ``y_hat_bg`` for two classes) are written beside the
    first and last layer. ``show_weights`` colours each connection by the sign of its weight
    (red +, blue -) with opacity growing with its size, from ``model.seminar_parameters()``.

    gids: ``"node-<l>-<i>"`` (layer ``l`` from 0 = input, neuron ``i`` counted from 0 in the
    full layer), ``"ellipsis-<l>"``, ``"layer-<l>"`` (title), ``"edges-<l>"`` (a LineCollection
    from layer ``l - 1`` to ``l``), ``"weights-<l>"``, ``"softmax"``. Returns ``(figure, axes)``;
    :func:`drawn_nodes` lists what was drawn.
    """
    shapes = _layer_shapes(model)
    if int(max_nodes) != max_nodes or max_nodes < 2:
        raise ValueError(f"max_nodes must be an integer >= 2; got {max_nodes!r}")
    sizes = [shapes[0][0]] + [n for _, n in shapes]
    n_layers = len(sizes)
    if input_labels is not None and len(input_labels) != sizes[0]:
        raise ValueError(f"input_labels needs {sizes[0]} entries (one per feature); got {len(input_labels)}")
    if output_labels is None and sizes[-1] == 2:
        output_labels = (r"$\hat{y}_\mathrm{sig}$", r"$\hat{y}_\mathrm{bg}$")
    if output_labels is not None and len(output_labels) != sizes[-1]:
        raise ValueError(f"output_labels needs {sizes[-1]} entries (one per class); got {len(output_labels)}")
    weights = None
    if show_weights:
        if not hasattr(model, "seminar_parameters"):
            raise ValueError("show_weights needs a model with seminar_parameters() (e.g. models.FCN)")
        weights = [W for W, _ in model.seminar_parameters()]

    dx, dy, r = 1.9, 0.42, 0.15  # inches: layer spacing, neuron spacing, neuron radius
    shown = [_shown(n, int(max_nodes)) for n in sizes]
    slots = [len(s) + (1 if len(s) < n else 0) for s, n in zip(shown, sizes)]
    half = (max(slots) - 1) / 2 * dy
    left = 1.35 if input_labels is not None else 0.75
    right = 1.0 if output_labels is not None else 0.75
    top, bottom = 0.85, 0.95
    width = left + dx * (n_layers - 1) + right
    height = 2 * half + top + bottom
    if ax is None:
        fig = plt.figure(figsize=(width, height))
        ax = fig.add_axes((0, 0, 1, 1))
    fig = ax.figure

    positions: list[dict[int, tuple[float, float]]] = []
    for layer, (idx, n) in enumerate(zip(shown, sizes)):
        x = dx * layer
        slot_y = [((slots[layer] - 1) / 2 - k) * dy for k in range(slots[layer])]
        pos = {}
        gap = len(idx) < n
        top_count = (len(idx) + 1) // 2 if gap else len(idx)
        for k, i in enumerate(idx):
            slot = k if k < top_count else k + 1
            pos[i] = (x, slot_y[slot])
        if gap:
            ax.text(x, slot_y[top_count], "⋮", ha="center", va="center", fontsize=14,
                    gid=f"ellipsis-{layer}")
        positions.append(pos)

    # connections, drawn first so the neurons sit on top of them
    for layer in range(1, n_layers):
        prev, cur = positions[layer - 1], positions[layer]
        segments = [(prev[j], cur[i]) for i in cur for j in prev]
        if weights is not None:
            W = weights[layer - 1]
            scale = float(np.abs(W).max()) or 1.0
            values = np.array([W[j, i] for i in cur for j in prev])
            rgba = np.zeros((values.size, 4))
            rgba[:, :3] = np.where(values[:, None] > 0, [0.80, 0.15, 0.10], [0.05, 0.30, 0.70])
            rgba[:, 3] = 0.08 + 0.8 * np.abs(values) / scale
            lc = LineCollection(segments, colors=rgba, linewidths=0.8, zorder=1)
        else:
            lc = LineCollection(segments, colors="0.55", linewidths=0.5, alpha=0.6, zorder=1)
        lc.set_gid(f"edges-{layer}")
        ax.add_collection(lc)
        (n_prev, n), xm = shapes[layer - 1], dx * (layer - 0.5)
        ax.text(xm, -half - 0.3, f"$\\mathbf{{W}}^{{({layer})}}$: {n_prev} × {n}\n"
                f"$\\mathbf{{b}}^{{({layer})}}$: {n}", ha="center", va="top", fontsize=8.5,
                color="0.25", gid=f"weights-{layer}")

    face = {"input": "#dce8f5", "hidden": "#f2f2f2", "output": "#fde3c8"}
    for layer, pos in enumerate(positions):
        kind = "input" if layer == 0 else "output" if layer == n_layers - 1 else "hidden"
        for i, (x, y) in pos.items():
            ax.add_patch(Circle((x, y), r, facecolor=face[kind], edgecolor="0.2", lw=1.1, zorder=3,
                                gid=f"node-{layer}-{i}"))
            if kind == "hidden":  # the ReLU hinge of Figure 10
                ax.plot([x - 0.6 * r, x, x + 0.5 * r], [y - 0.3 * r, y - 0.3 * r, y + 0.45 * r],
                        color="0.15", lw=1.0, zorder=4, solid_capstyle="round")
            if kind == "input" and input_labels is not None:
                ax.text(x - r - 0.08, y, input_labels[i], ha="right", va="center", fontsize=8.5)
            if kind == "output" and output_labels is not None:
                ax.text(x + 1.8 * r + 0.08, y, output_labels[i], ha="left", va="center", fontsize=10)
        n = sizes[layer]
        if kind == "input":
            title = f"Input layer\n$F$ = {n} features"
        elif kind == "output":
            title = f"Output layer\n$C$ = {n} classes"
        else:
            title = f"Hidden layer {layer}\n{n} neurons, ReLU"
        ax.text(dx * layer, half + 0.3, title, ha="center", va="bottom", fontsize=9,
                gid=f"layer-{layer}")
    x_out, ys = dx * (n_layers - 1), [y for _, y in positions[-1].values()]
    ax.add_patch(FancyBboxPatch((x_out - 1.8 * r, min(ys) - 1.6 * r), 3.6 * r, max(ys) - min(ys) + 3.2 * r,
                                boxstyle="round,pad=0,rounding_size=0.08", facecolor="none",
                                edgecolor="#d9661f", lw=1.3, ls="--", zorder=2, gid="softmax"))
    ax.text(x_out, min(ys) - 1.6 * r - 0.06, "softmax σ", ha="center", va="top", fontsize=8.5,
            color="#d9661f")
    ax.set_xlim(-left, dx * (n_layers - 1) + right)
    ax.set_ylim(-half - bottom, half + top)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig, ax


def drawn_nodes(ax: Axes) -> dict[int, list[int]]:
    """The neurons drawn by :func:`fcn_diagram` on ``ax``: ``{layer: [neuron indices]}``."""
    found: dict[int, list[int]] = {}
    for p in ax.patches:
        gid = p.get_gid() or ""
        if gid.startswith("node-"):
            _, layer, i = gid.split("-")
            found.setdefault(int(layer), []).append(int(i))
    return {k: sorted(v) for k, v in sorted(found.items())}


# ---------------------------------------------------------------------------------------------
# Seminar Figure 10: ReLU
# ---------------------------------------------------------------------------------------------


def relu_plot(
    *, ax: Axes | None = None, z_range: tuple[float, float] = (-3.0, 3.0), derivative: bool = True
) -> tuple[Figure, Axes]:
    """The ReLU activation ``f_a(z) = max(0, z)`` (seminar Figure 10), from
    :func:`e2e_tutorial.numpy_nn.relu`; with ``derivative`` also its slope
    (:func:`~e2e_tutorial.numpy_nn.relu_grad`), dashed. gids: ``"relu"``, ``"relu-grad"``."""
    lo, hi = (float(v) for v in z_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < 0 < hi):
        raise ValueError(f"z_range must be (low, high) with low < 0 < high; got {z_range}")
    z = np.linspace(lo, hi, 601)
    fig, ax = _new_axes(ax, (4.2, 3.0))
    ax.plot(z, numpy_nn.relu(z), color="#D55E00", lw=2.2, gid="relu", label=r"$f_a(z) = \max(0, z)$")
    if derivative:
        ax.plot(z, numpy_nn.relu_grad(z), color="#0072B2", lw=1.5, ls="--", gid="relu-grad",
                label=r"slope $\mathrm{d}f_a/\mathrm{d}z$")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("Pre-activation $z$")
    ax.set_ylabel("Activation $f_a(z)$")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8.5)
    return fig, ax


# ---------------------------------------------------------------------------------------------
# Seminar Figure 8: labels and predictions of a few events
# ---------------------------------------------------------------------------------------------


def output_bars(
    proba: ArrayLike,
    labels: ArrayLike,
    *,
    class_names: Sequence[str] = ("signal", "background"),
    event_ids: Sequence[Any] | None = None,
    axes: Sequence[Axes] | None = None,
    title: str | None = None,
) -> tuple[Figure, NDArray]:
    """Seminar Figure 8 for real outputs: for each event, its one-hot label ``y`` (hollow bars)
    beside the predicted probabilities ``y_hat`` (filled, value written on top), classes in the
    signal-first order.

    ``proba``: shape ``(n_events, C)``, each row summing to 1 (e.g. ``predict_proba``);
    ``labels``: the class index of each event (0 = signal). One panel per event.
    gids: ``"label-<e>-<c>"`` and ``"pred-<e>-<c>"`` for event ``e``, class ``c``.
    Returns ``(figure, array of axes)``.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2 or proba.shape[0] < 1:
        raise ValueError(f"proba must have shape (n_events, C) with C >= 2; got {proba.shape}")
    if np.any(proba < 0) or np.any(proba > 1) or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-5):
        raise ValueError("every row of proba must hold probabilities summing to 1 (apply softmax first)")
    n, n_classes = proba.shape
    if len(class_names) != n_classes:
        raise ValueError(f"class_names needs {n_classes} entries; got {len(class_names)}")
    labels = _class_indices(labels, n, class_names)
    if event_ids is not None and len(event_ids) != n:
        raise ValueError(f"event_ids needs {n} entries; got {len(event_ids)}")
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(1.55 * n + 0.9, 2.9), sharey=True,
                                 layout="constrained", squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(np.asarray(axes, dtype=object))
        if len(axes) != n:
            raise ValueError(f"need one Axes per event ({n}); got {len(axes)}")
        fig = axes[0].figure
    x = np.arange(n_classes)
    w = 0.38
    colors = [PROCESS_COLORS["h"]] + ["0.45"] * (n_classes - 1)
    for e, ax in enumerate(axes):
        onehot = np.eye(n_classes)[labels[e]]
        for c in range(n_classes):
            ax.bar(x[c] - w / 2, onehot[c], w, facecolor="none", edgecolor="0.1", hatch="///",
                   lw=1.0, gid=f"label-{e}-{c}")
            ax.bar(x[c] + w / 2, proba[e, c], w, color=colors[c], alpha=0.85, gid=f"pred-{e}-{c}")
            ax.text(x[c] + w / 2, proba[e, c] + 0.03, f"{proba[e, c]:.2f}", ha="center",
                    va="bottom", fontsize=7.5)
        ax.set_xticks(x, list(class_names), fontsize=8)
        ax.set_ylim(0, 1.18)
        ax.set_xlim(-0.6, n_classes - 0.4)
        ident = event_ids[e] if event_ids is not None else e + 1
        ax.set_title(f"event {ident}\ntruth: {class_names[labels[e]]}", fontsize=8.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(r"label $y_c$ / prediction $\hat{y}_c$")
    handles = [Patch(facecolor="none", edgecolor="0.1", hatch="///", label=r"label $\mathbf{y}$"),
               Patch(facecolor=colors[0], alpha=0.85, label=r"prediction $\hat{\mathbf{y}}$ (signal)"),
               Patch(facecolor=colors[-1], alpha=0.85, label=r"prediction $\hat{\mathbf{y}}$ (background)")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, np.asarray(axes)


# ---------------------------------------------------------------------------------------------
# A loss surface with a gradient-descent path (seminar 3.2.2-3.2.3, appendix A.3.2)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DescentPath:
    """The parameters and the loss after each step of :func:`logistic_descent` (step 0 =
    start)."""

    w: NDArray[np.float64]  #: shape (steps + 1, 2)
    loss: NDArray[np.float64]  #: shape (steps + 1,)
    lr: float  #: the learning rate eta


def _logistic_inputs(w: ArrayLike, x: ArrayLike, y: ArrayLike) -> tuple[NDArray, NDArray, NDArray]:
    w = np.asarray(w, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if w.shape != (2,):
        raise ValueError(f"w must hold the two weights (w1, w2); got shape {w.shape}")
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (M, 2): two features per event; got {x.shape}")
    if y.ndim == 1:
        if y.shape[0] != x.shape[0] or not np.all((y == 0) | (y == 1)):
            raise ValueError("y must hold one class index per event, 0 = signal or 1 = background")
        y = np.eye(2)[y.astype(int)]
    if y.shape != (x.shape[0], 2):
        raise ValueError(f"y must be class indices (M,) or one-hot (M, 2); got shape {y.shape}")
    return w, x, y


def _logistic_net(w: NDArray) -> numpy_nn.NumpyFCN:
    """One softmax layer whose signal logit is ``w . x`` and background logit 0: a
    :class:`~e2e_tutorial.numpy_nn.NumpyFCN` with ``W = [[w1, 0], [w2, 0]]`` and ``b = 0``."""
    W = np.array([[w[0], 0.0], [w[1], 0.0]])
    return numpy_nn.NumpyFCN.from_parameters([W], [np.zeros(2)])


def logistic_loss(w: ArrayLike, x: ArrayLike, y: ArrayLike) -> float:
    """Mean cross-entropy (seminar Eqs. 4 and 8) of the two-parameter classifier
    ``y_hat = softmax(w . x, 0)``, i.e. ``y_hat_sig = 1 / (1 + exp(-w . x))``.

    ``w``: (w1, w2); ``x``: two features per event, shape (M, 2) (standardise them first, the
    model has no bias); ``y``: class indices (0 = signal) or one-hot rows. At ``w = 0`` every
    event gets ``y_hat = (1/2, 1/2)`` and the loss is ln 2. Computed by
    :class:`~e2e_tutorial.numpy_nn.NumpyFCN`.
    """
    w, x, y = _logistic_inputs(w, x, y)
    return _logistic_net(w).loss(x, y)


def logistic_gradient(w: ArrayLike, x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Gradient of :func:`logistic_loss` with respect to ``(w1, w2)``, by the backpropagation of
    :meth:`e2e_tutorial.numpy_nn.NumpyFCN.backward` (the first column of ``dL/dW``)."""
    w, x, y = _logistic_inputs(w, x, y)
    net = _logistic_net(w)
    net.forward(x)
    dW, _ = net.backward(y)
    return dW[:, 0].copy()


def logistic_loss_grid(
    x: ArrayLike, y: ArrayLike, w1_values: ArrayLike, w2_values: ArrayLike
) -> NDArray[np.float64]:
    """:func:`logistic_loss` on the grid ``w1_values x w2_values``; shape
    ``(len(w2_values), len(w1_values))``, rows = w2 (the layout ``contourf`` expects)."""
    w1_values = np.asarray(w1_values, dtype=np.float64)
    w2_values = np.asarray(w2_values, dtype=np.float64)
    if w1_values.ndim != 1 or w2_values.ndim != 1 or w1_values.size < 2 or w2_values.size < 2:
        raise ValueError("w1_values and w2_values must be 1-D with at least 2 values each")
    _, x, y = _logistic_inputs(np.zeros(2), x, y)
    return np.array([[logistic_loss((a, b), x, y) for a in w1_values] for b in w2_values])


def logistic_descent(
    x: ArrayLike, y: ArrayLike, start: ArrayLike, *, lr: float, steps: int
) -> DescentPath:
    """Full-batch gradient descent on :func:`logistic_loss` from ``start``: ``steps`` updates
    ``w <- w - lr * grad`` by :func:`e2e_tutorial.numpy_nn.gradient_descent_step` (seminar
    appendix A.3.2, step 4, with the whole sample as one mini-batch)."""
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    w, x, y = _logistic_inputs(start, x, y)
    path, losses = [w], [logistic_loss(w, x, y)]
    for _ in range(int(steps)):
        (w,) = numpy_nn.gradient_descent_step([w], [logistic_gradient(w, x, y)], lr)
        path.append(w)
        losses.append(logistic_loss(w, x, y))
    return DescentPath(np.array(path), np.array(losses), float(lr))


def loss_surface(
    w1_values: ArrayLike,
    w2_values: ArrayLike,
    loss_grid: ArrayLike,
    *,
    paths: Sequence[DescentPath] | DescentPath = (),
    path_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    xlabel: str = "$w_1$",
    ylabel: str = "$w_2$",
    levels: int = 20,
) -> tuple[Figure, Axes]:
    """The loss as a landscape over two parameters (filled contours, colour bar), with the
    paths that gradient descent took across it: each a line of dots from a square (start) to
    a star (end).

    ``loss_grid``: shape ``(len(w2_values), len(w1_values))``, e.g. from
    :func:`logistic_loss_grid`. gids: ``"surface"``, ``"path-<k>"``, ``"start-<k>"``,
    ``"end-<k>"``. Returns ``(figure, axes)``.
    """
    w1_values = np.asarray(w1_values, dtype=np.float64)
    w2_values = np.asarray(w2_values, dtype=np.float64)
    loss_grid = np.asarray(loss_grid, dtype=np.float64)
    if loss_grid.shape != (w2_values.size, w1_values.size):
        raise ValueError(
            f"loss_grid must have shape (len(w2_values), len(w1_values)) = "
            f"({w2_values.size}, {w1_values.size}); got {loss_grid.shape}"
        )
    if isinstance(paths, DescentPath):
        paths = [paths]
    if path_labels is not None and len(path_labels) != len(paths):
        raise ValueError(f"path_labels needs {len(paths)} entries; got {len(path_labels)}")
    fig, ax = _new_axes(ax, (5.0, 4.0))
    # Geometric levels on a log colour scale: the valley around the minimum, where the descent
    # ends, gets as many contours as the steep walls.
    lo, hi = float(loss_grid.min()), float(loss_grid.max())
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"loss_grid must be finite, positive and not constant; got {lo} to {hi}")
    filled = ax.contourf(w1_values, w2_values, loss_grid, levels=np.geomspace(lo, hi, int(levels)),
                         cmap="viridis", norm=LogNorm(lo, hi))
    filled.set_gid("surface")
    ax.contour(w1_values, w2_values, loss_grid, levels=filled.levels, colors="white",
               linewidths=0.4, alpha=0.5)
    bar = fig.colorbar(filled, ax=ax)
    nice = [v * 10.0**e for e in range(-3, 4) for v in (1, 1.5, 2, 3, 5, 7)]
    bar.set_ticks([v for v in nice if lo <= v <= hi], labels=[f"{v:g}" for v in nice if lo <= v <= hi])
    bar.minorticks_off()
    bar.set_label("Loss (mean cross-entropy, Eq. 8)")
    path_colors = ("#ffffff", "#E69F00", "#CC79A7", "#56B4E9")
    for k, p in enumerate(paths):
        c = path_colors[k % len(path_colors)]
        label = path_labels[k] if path_labels is not None else f"gradient descent, η = {p.lr:g}"
        ax.plot(p.w[:, 0], p.w[:, 1], "-o", color=c, ms=2.5, lw=1.2, gid=f"path-{k}", label=label)
        ax.plot(*p.w[0], "s", color=c, mec="black", ms=7, gid=f"start-{k}")
        ax.plot(*p.w[-1], "*", color=c, mec="black", ms=13, gid=f"end-{k}")
    ax.set_xlim(w1_values[0], w1_values[-1])
    ax.set_ylim(w2_values[0], w2_values[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if paths:
        ax.legend(loc="lower right", fontsize=8, facecolor="0.3", labelcolor="white", framealpha=0.7)
    return fig, ax
