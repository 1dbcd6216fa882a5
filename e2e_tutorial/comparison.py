"""Train several classifiers on one task and compare them on the same test events (seminar
section 5.1, the case study of Andrews et al.).

Chapter 5 pits a kinematic fully-connected network against networks that read detector images,
on H -> gamma gamma against gamma gamma and against gamma + jet. This module holds the
bookkeeping of such a comparison, built on :mod:`~e2e_tutorial.training` (``fit``, ``predict``),
:mod:`~e2e_tutorial.metrics` (AUC, bootstrap) and :mod:`~e2e_tutorial.plots` (``roc_summary``
for ROC curves, AUCs and background rejections with bootstrap uncertainties):

* :func:`tensor_splits`, :func:`map_inputs` -- the train/validation/test splits of a
  :func:`~e2e_tutorial.datasets.binary_task` as in-memory tensors, and other views of the same
  inputs (flattened pixels, a subset of channels).
* :func:`labels_of`, :func:`split_values` -- the labels of a split, and any per-event array of
  the dataset files (diphoton mass, photons) for the events of a split, in item order.
* :class:`Candidate`, :func:`train_and_evaluate`, :func:`compare` -- train each classifier from
  the same seed, score the test events and summarise its ROC curve; :class:`Result` holds it all.
* :func:`auc_difference` -- the AUC difference of two classifiers on the same events, with a
  *paired* bootstrap uncertainty.
* :func:`window_summary` -- the ROC summary of the events whose value (e.g. the diphoton mass
  in GeV) lies in a window: does a classifier still separate the classes there?
* :func:`auc_table` -- AUCs and background rejections of several classifiers on several tasks.
* :func:`binned_mean`, :func:`score_profile` -- the mean score in bins of another quantity, e.g.
  of the background events against the diphoton mass: a classifier that has learned the mass
  shows a bump where the signal sits (mass sculpting).

Conventions are those of the course: labels are class indices with **0 = signal**; a score is
one number per event, larger = more signal-like (the signal probability); energies and masses
in GeV. Bad input raises ``ValueError`` naming the value and what was expected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset

from e2e_tutorial import metrics, plots, training

__all__ = [
    "SPLITS",
    "tensor_splits",
    "map_inputs",
    "labels_of",
    "split_values",
    "Candidate",
    "Result",
    "train_and_evaluate",
    "compare",
    "auc_difference",
    "window_summary",
    "auc_table",
    "binned_mean",
    "score_profile",
]

#: The names of the splits of a task, in the order they are used.
SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def tensor_splits(task) -> dict[str, TensorDataset]:
    """The train/val/test splits of ``task`` (a :class:`~e2e_tutorial.datasets.TaskSplits`) read
    once into memory as ``TensorDataset(x, y)`` (:func:`training.to_tensor_dataset`), so that
    :func:`training.fit` batches them without a DataLoader. Fine for features, crops and
    downsampled images; full 3 x 170 x 360 images of thousands of events need gigabytes."""
    missing = [name for name in SPLITS if not hasattr(task, name)]
    if missing:
        raise ValueError(f"task must have the splits {SPLITS} (a datasets.TaskSplits); "
                         f"{type(task).__name__} lacks {missing}")
    return {name: training.to_tensor_dataset(getattr(task, name)) for name in SPLITS}


def _check_splits(splits: Mapping[str, Dataset], what: str = "splits") -> None:
    if not isinstance(splits, Mapping) or any(name not in splits for name in SPLITS):
        have = sorted(splits) if isinstance(splits, Mapping) else type(splits).__name__
        raise ValueError(f"{what} must map each of {SPLITS} to a dataset; got {have}")


def map_inputs(splits: Mapping[str, TensorDataset],
               transform: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, TensorDataset]:
    """Another view of the same events: ``transform`` applied to the inputs of every split, the
    labels kept. E.g. ``lambda x: x.flatten(1)`` for a fully-connected network on the pixels, or
    ``lambda x: x[:, [1, 4]]`` for the ECAL channels of the two photon crops. ``transform`` must
    keep the number of events (first axis)."""
    _check_splits(splits)
    out = {}
    for name in SPLITS:
        data = splits[name]
        if not isinstance(data, TensorDataset) or len(data.tensors) != 2:
            raise ValueError(f"splits[{name!r}] must be a TensorDataset(x, y) (see tensor_splits); "
                             f"got {type(data).__name__}")
        x, y = data.tensors
        new = transform(x)
        if not isinstance(new, torch.Tensor) or new.ndim < 1 or new.shape[0] != x.shape[0]:
            shape = tuple(new.shape) if isinstance(new, torch.Tensor) else type(new).__name__
            raise ValueError(f"transform must return a tensor with one row per event ({x.shape[0]} in "
                             f"split {name!r}); got {shape}")
        out[name] = TensorDataset(new.contiguous(), y)
    return out


def labels_of(data: Dataset) -> NDArray[np.int64]:
    """The labels (class indices, 0 = signal) of a dataset of ``(x, y)`` pairs, in item order."""
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        y = data.tensors[1]
    else:
        ys = []
        for item in DataLoader(data, batch_size=1024):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValueError(f"data must yield (x, y) pairs; got {type(item).__name__}")
            ys.append(torch.as_tensor(item[1]))
        if not ys:
            raise ValueError("data is empty; expected at least one (x, y) pair")
        y = torch.cat(ys)
    if y.ndim != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-d integer tensor of class indices; got dtype {y.dtype}, "
                         f"shape {tuple(y.shape)}")
    return y.numpy().astype(np.int64)


def split_values(split: Subset, name: str) -> np.ndarray:
    """A per-event array of the dataset files (``"mass"`` in GeV, ``"features"``,
    ``"photons"``) for the events of ``split``, in its item order.

    ``split`` is a split of :func:`~e2e_tutorial.datasets.binary_task` or
    :func:`~e2e_tutorial.datasets.classification_task` (a ``Subset`` of the concatenated
    datasets), e.g. ``task.test``; row i belongs to ``split[i]``.
    """
    if not isinstance(split, Subset) or not isinstance(split.dataset, ConcatDataset):
        raise ValueError(f"split must be a split of datasets.binary_task (a Subset of a ConcatDataset); "
                         f"got {type(split).__name__}")
    parts = split.dataset.datasets
    if name not in ("mass", "features", "photons") or not all(hasattr(p, name) for p in parts):
        raise ValueError(f"name must be a per-event array of the datasets: 'mass', 'features' or "
                         f"'photons'; got {name!r}")
    return np.concatenate([getattr(p, name) for p in parts])[np.asarray(split.indices)]


# ---------------------------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One classifier of a comparison.

    ``name`` labels it in tables and plots; ``build()`` returns a fresh, untrained model (called
    after the seed is set, so its initial weights are reproducible); ``inputs`` names the input
    splits it reads (a key of the mapping given to :func:`compare`); ``lr`` is Adam's learning
    rate and ``epochs`` the most epochs it trains.
    """

    name: str
    build: Callable[[], nn.Module]
    inputs: str
    epochs: int
    lr: float = 1e-3


@dataclass
class Result:
    """A trained classifier and its performance on the test events."""

    name: str  #: the candidate's name
    inputs: str  #: the input splits it read
    model: nn.Module  #: trained, with the weights of its best validation epoch
    history: training.History  #: per-epoch losses and validation metrics
    labels: NDArray[np.int64]  #: test labels, 0 = signal
    scores: NDArray[np.float32]  #: signal probability of each test event
    summary: plots.RocSummary  #: ROC curve, AUC and rejections with bootstrap uncertainties
    n_parameters: int  #: trainable weights and biases
    seconds: float  #: wall-clock time of the training, s

    @property
    def auc(self) -> float:
        """Test AUC (signal = class 0)."""
        return self.summary.auc


def train_and_evaluate(
    candidate: Candidate,
    splits: Mapping[str, Dataset],
    *,
    batch_size: int,
    seed: int,
    n_bootstrap: int,
    patience: int | None = None,
    device: str | torch.device | None = None,
    working_points: Sequence[float] = plots.WORKING_POINTS,
) -> Result:
    """Train ``candidate`` on ``splits["train"]`` with :func:`training.fit` (Adam, cross-entropy,
    mini-batches of ``batch_size``, validation after every epoch, stopping after ``patience``
    epochs without a lower validation loss and keeping the best epoch's weights), then score
    ``splits["test"]`` and summarise it with :func:`plots.roc_summary` (``n_bootstrap``
    resamples; background rejection at ``working_points``). ``seed`` fixes the initial weights
    (:func:`training.seed_everything` before ``build()``), the order of the training events
    and the bootstrap."""
    if not isinstance(candidate, Candidate):
        raise ValueError(f"candidate must be a Candidate; got {type(candidate).__name__}")
    _check_splits(splits, f"the splits of {candidate.name!r}")
    training.seed_everything(seed)
    model = candidate.build()
    if not isinstance(model, nn.Module):
        raise ValueError(f"{candidate.name!r}: build() must return a torch nn.Module; got "
                         f"{type(model).__name__}")
    start = time.perf_counter()
    history = training.fit(model, splits["train"], splits["val"], epochs=candidate.epochs,
                           batch_size=batch_size, lr=candidate.lr, patience=patience, seed=seed,
                           device=device, verbose=False)
    seconds = time.perf_counter() - start
    labels = labels_of(splits["test"])
    scores = training.predict(model, splits["test"])
    summary = plots.roc_summary(labels, scores, n_bootstrap=n_bootstrap, seed=seed,
                                name=candidate.name, working_points=working_points)
    n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Result(candidate.name, candidate.inputs, model, history, labels, scores, summary,
                  n_parameters, seconds)


def compare(
    candidates: Sequence[Candidate],
    inputs: Mapping[str, Mapping[str, Dataset]],
    *,
    verbose: bool = True,
    **options,
) -> dict[str, Result]:
    """:func:`train_and_evaluate` for every candidate, on the input splits ``inputs[c.inputs]``.

    ``inputs`` maps a name (e.g. ``"features"``, ``"crops"``) to train/val/test splits of the
    *same* events in the same order, only seen differently; this is checked on the test labels,
    so that every classifier is judged on the same events. ``options`` go to
    :func:`train_and_evaluate` (``batch_size``, ``seed``, ``n_bootstrap`` are required).
    ``verbose`` prints one plain-text line per classifier. Returns ``name -> Result`` in the
    order of ``candidates``.
    """
    candidates = list(candidates)
    if not candidates:
        raise ValueError("candidates is empty; give at least one Candidate")
    names = [c.name for c in candidates]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"candidate names must be unique; {twice} appear more than once")
    unknown = sorted({c.inputs for c in candidates} - set(inputs))
    if unknown:
        raise ValueError(f"candidates read inputs {unknown}, which are not among {sorted(inputs)}")
    reference = None
    for key in dict.fromkeys(c.inputs for c in candidates):
        _check_splits(inputs[key], f"inputs[{key!r}]")
        labels = labels_of(inputs[key]["test"])
        if reference is None:
            reference = (key, labels)
        elif not np.array_equal(labels, reference[1]):
            raise ValueError(f"the test events of inputs {key!r} and {reference[0]!r} differ (labels "
                             f"not equal item by item); make every input from the same task and seed")
    results = {}
    for c in candidates:
        r = train_and_evaluate(c, inputs[c.inputs], **options)
        results[c.name] = r
        if verbose:
            h = r.history
            print(f"{c.name:<28} {r.n_parameters:>8} parameters, {r.seconds:6.1f} s, best epoch "
                  f"{h.best_epoch:>2} of {len(h):>2}; test AUC {r.auc:.3f} ± {r.summary.auc_std:.3f}")
    return results


# ---------------------------------------------------------------------------------------------
# Comparing classifiers
# ---------------------------------------------------------------------------------------------


def auc_difference(
    y: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, *, n: int, seed: int, level: float = 0.68
) -> metrics.BootstrapResult:
    """AUC(a) - AUC(b) of two classifiers on the same events, with a *paired* bootstrap.

    Each resample draws one set of events (stratified, as :func:`metrics.bootstrap`) and
    computes both AUCs on it, so that what the two classifiers have in common (which events are
    hard) cancels in the difference. Its spread is therefore smaller than that of two independent
    AUCs added in quadrature whenever the classifiers agree event by event. Returns the
    :class:`~e2e_tutorial.metrics.BootstrapResult` of the difference; the difference on the
    whole sample is ``metrics.auc(y, score_a) - metrics.auc(y, score_b)``.
    """
    a = np.asarray(score_a, dtype=np.float64)
    b = np.asarray(score_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"score_a and score_b must be 1-D with one score per event each; got shapes "
                         f"{a.shape} and {b.shape}")
    metrics.auc(y, a), metrics.auc(y, b)  # checks labels, lengths and finiteness

    def difference(y_b: NDArray, index: NDArray) -> float:
        k = index.astype(np.int64)
        return metrics.auc(y_b, a[k]) - metrics.auc(y_b, b[k])

    # The bootstrap resamples (label, event index) pairs; the metric looks up both scores.
    return metrics.bootstrap(difference, y, np.arange(a.size, dtype=np.float64), n=n, seed=seed,
                             level=level)


def window_summary(
    result: Result,
    values: ArrayLike,
    low: float,
    high: float,
    *,
    n_bootstrap: int,
    seed: int,
) -> plots.RocSummary:
    """:func:`plots.roc_summary` of ``result`` on the test events with ``low < values < high``.

    ``values`` holds one number per test event, e.g. the diphoton mass in GeV from
    :func:`split_values`; a classifier that only learned that quantity separates the classes
    no better than chance inside a narrow window of it.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.shape != result.scores.shape:
        raise ValueError(f"values must hold one number per test event ({result.scores.size}); got shape "
                         f"{v.shape}")
    if not low < high:
        raise ValueError(f"the window needs low < high; got low={low!r}, high={high!r}")
    inside = (v > low) & (v < high)
    y = result.labels[inside]
    n_sig, n_bkg = int(np.sum(y == 0)), int(np.sum(y != 0))
    if n_sig < 2 or n_bkg < 2:
        raise ValueError(f"the window ({low}, {high}) holds {n_sig} signal and {n_bkg} background test "
                         f"events; need at least 2 of each")
    return plots.roc_summary(y, result.scores[inside], n_bootstrap=n_bootstrap, seed=seed,
                             name=f"{result.name}, {low:g}-{high:g}",
                             working_points=result.summary.working_points)


def _as_summary(item) -> plots.RocSummary:
    if isinstance(item, Result):
        return item.summary
    if isinstance(item, plots.RocSummary):
        return item
    raise ValueError(f"expected a Result or a plots.RocSummary; got {type(item).__name__}")


def auc_table(results: Mapping[str, Mapping[str, object]], working_point: float = 0.8) -> str:
    """Plain-text table: one row per classifier, for each task its test AUC and its background
    rejection 1 - eps_b at signal efficiency ``working_point``, each +- its bootstrap standard
    deviation.

    ``results`` maps a task name to ``classifier name -> Result`` (or ``plots.RocSummary``), as
    :func:`compare` returns; rows are the classifiers in order of first appearance, and a
    classifier missing from a task shows a dash there. ``working_point`` must be one of the
    summaries' working points.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must map task names to {classifier name: Result}; got nothing")
    tasks = list(results)
    summaries = {t: {name: _as_summary(r) for name, r in results[t].items()} for t in tasks}
    rows = list(dict.fromkeys(name for t in tasks for name in summaries[t]))
    if not rows:
        raise ValueError("results holds no classifiers")
    for t in tasks:
        for name, s in summaries[t].items():
            if not np.any(np.isclose(s.working_points, working_point)):
                raise ValueError(f"working_point {working_point!r} is not among the working points "
                                 f"{s.working_points.tolist()} of {name!r} in task {t!r}")
    cell = 29
    width = max(len(r) for r in rows) + 2
    head = " " * width + "".join(f"{t:^{cell}}" for t in tasks)
    sub = " " * width + "".join(f"{'AUC':^14}{f'1-eps_b at {working_point:.0%}':^15}" for _ in tasks)
    lines = [head, sub]
    for name in rows:
        line = f"{name:<{width}}"
        for t in tasks:
            s = summaries[t].get(name)
            if s is None:
                line += f"{'-':^14}{'-':^15}"
                continue
            k = int(np.flatnonzero(np.isclose(s.working_points, working_point))[0])
            line += f"{f'{s.auc:.3f} ± {s.auc_std:.3f}':^14}"
            line += f"{f'{s.rejection[k]:.3f} ± {s.rejection_std[k]:.3f}':^15}"
        lines.append(line.rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Score against another quantity (mass sculpting)
# ---------------------------------------------------------------------------------------------


def binned_mean(
    values: ArrayLike, scores: ArrayLike, bins: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Mean of ``scores`` in bins of ``values``: ``(mean, error, count)`` per bin.

    ``bins`` are the bin edges (increasing); an event with ``edges[k] <= value < edges[k + 1]``
    falls in bin k (the last bin includes its upper edge), events outside are ignored. ``error``
    is the standard error of the mean, std (ddof = 1) / sqrt(count). Bins with fewer than two
    events get NaN for both.
    """
    v = np.asarray(values, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    edges = np.asarray(bins, dtype=np.float64)
    if v.ndim != 1 or v.shape != s.shape:
        raise ValueError(f"values and scores must be 1-D and of equal length; got shapes {v.shape} and "
                         f"{s.shape}")
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
        raise ValueError(f"bins must be at least two finite, increasing edges; got {edges.tolist()}")
    k = np.searchsorted(edges, v, side="right") - 1
    k[v == edges[-1]] = edges.size - 2
    ok = (k >= 0) & (k < edges.size - 1)
    n_bins = edges.size - 1
    count = np.bincount(k[ok], minlength=n_bins).astype(np.int64)
    total = np.bincount(k[ok], weights=s[ok], minlength=n_bins)
    mean = np.full(n_bins, np.nan)
    error = np.full(n_bins, np.nan)
    enough = count >= 2
    mean[enough] = total[enough] / count[enough]
    for j in np.flatnonzero(enough):
        error[j] = s[ok][k[ok] == j].std(ddof=1) / np.sqrt(count[j])
    return mean, error, count


def score_profile(
    values: ArrayLike,
    scores: Mapping[str, ArrayLike],
    bins: ArrayLike,
    *,
    ax: Axes | None = None,
    xlabel: str = r"$m_{\gamma\gamma}$ (GeV)",
    ylabel: str = r"Mean signal score $\langle\hat{y}_\mathrm{sig}\rangle$",
    marker: float | None = None,
    colors: Sequence[str] | None = None,
    title: str | None = None,
) -> tuple[Figure, Axes]:
    """Mean score against ``values`` (:func:`binned_mean`), one line with error bars per
    classifier of ``scores`` (``name -> score per event``, all for the same events). Drawn for
    background events against their diphoton mass, it shows whether a classifier has learned
    the mass: a flat line has not, a bump at the signal's mass has (it would sculpt a peak into
    the selected background). ``marker`` draws a dotted vertical line there (e.g. 125 GeV).

    gids: ``"profile-<i>"`` per classifier, ``"marker"``. Returns ``(figure, axes)``.
    """
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must map classifier names to one score per event; got nothing")
    edges = np.asarray(bins, dtype=np.float64)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.6), layout="constrained")
    else:
        fig = ax.figure
    if marker is not None:
        ax.axvline(marker, color="0.4", ls=":", lw=1.2, gid="marker")
    for i, (name, s) in enumerate(scores.items()):
        mean, error, _ = binned_mean(values, s, edges)
        centres = 0.5 * (edges[1:] + edges[:-1])
        half = 0.5 * np.diff(edges)
        color = colors[i] if colors is not None else plots.class_color(name, i + 1)
        ax.errorbar(centres, mean, yerr=error, xerr=half, fmt="o", ms=4, capsize=2, color=color,
                    label=name, gid=f"profile-{i}")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig, ax
