"""Classifier performance: ROC curve, AUC, background rejection, bootstrap (seminar section 5).

Label convention -- signal first, signal = class 0
--------------------------------------------------
The course quotes classes **signal first** (seminar section 3.1), and this module follows it
everywhere:

* **Integer labels are class indices: 0 = signal**, any other value = background (1 = gamma
  gamma, 2 = gamma + jet in the three-class problem). This is what ``y_onehot.argmax(1)``
  gives, what column 0 of :meth:`e2e_tutorial.models.FCN.predict_proba` means, and what
  ``torch.nn.functional.cross_entropy`` takes as targets.
* **One-hot labels** of shape ``(N, C)`` are accepted too: ``(1, 0)`` = signal, ``(0, 1)`` =
  background.
* **Careful**: scikit-learn and many tutorials use 1 = signal ("positive class"). Passing such
  labels with the default ``signal=0`` swaps signal and background (an AUC of 0.8 comes out as
  0.2). Either convert them (``y = 1 - y``) or say which label is signal: ``signal=1``. For
  one-hot labels, ``signal`` is the column index. Boolean labels are refused, because "True"
  does not say which class it is.
* The **score** is one number per event, larger = more signal-like, e.g. the signal
  probability ``y_hat_sig`` (:meth:`~e2e_tutorial.models.FCN.signal_score`).

ROC convention (seminar Figure 17)
----------------------------------
For a threshold t, events with ``score >= t`` are selected. The signal efficiency ``eps_s`` is
the fraction of signal events selected, the background efficiency ``eps_b`` the fraction of
background events selected, and the **background rejection** is ``1 - eps_b``. The ROC curve
is background rejection (y axis) against signal efficiency (x axis); a perfect classifier
reaches the top-right corner. The area under it equals the usual AUC, the probability that a
random signal event scores higher than a random background event (ties count one half).

Everything is computed by scikit-learn (``roc_curve``, ``roc_auc_score``). Bad input (lengths
that differ, one class only, non-finite scores, labels that are not class indices) raises
``ValueError`` saying what was wrong.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = [
    "RocCurve",
    "BootstrapResult",
    "signal_mask",
    "roc",
    "auc",
    "background_rejection_at",
    "bootstrap",
]


class RocCurve(NamedTuple):
    """ROC curve points, ordered by decreasing threshold (increasing signal efficiency)."""

    #: eps_s, fraction of signal events with score >= threshold; starts at 0, ends at 1.
    signal_efficiency: NDArray[np.float64]
    #: 1 - eps_b, fraction of background events with score < threshold; starts at 1, ends at 0.
    background_rejection: NDArray[np.float64]
    #: The thresholds; the first is +inf (nothing selected).
    thresholds: NDArray[np.float64]


class BootstrapResult(NamedTuple):
    """Summary of a bootstrap: the metric on every resample and its spread."""

    mean: float  #: mean of the resampled values
    std: float  #: standard deviation of the resampled values (ddof = 1)
    low: float  #: lower end of the central percentile interval
    high: float  #: upper end of the central percentile interval
    values: NDArray[np.float64]  #: the metric on each resample, shape (n,)


def _labels(y: ArrayLike) -> NDArray:
    """Check that ``y`` is a 1-D array of class indices or a 2-D one-hot array."""
    y = np.asarray(y)
    if y.dtype == bool:
        raise ValueError(
            "y is boolean; give class indices instead (0 = signal, e.g. "
            "np.where(is_signal, 0, 1)) so that it is clear which class is signal"
        )
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(
            f"y must hold numbers (class indices or one-hot rows); got dtype {y.dtype}"
        )
    if y.ndim == 1:
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))[0]
            raise ValueError(
                f"y must hold integer class indices (0 = signal); y[{bad}] = {y[bad]}"
            )
        return y
    if y.ndim == 2:
        onehot = np.all((y == 0) | (y == 1), axis=1) & (y.sum(axis=1) == 1)
        if y.shape[1] < 2 or not np.all(onehot):
            bad = np.flatnonzero(~onehot)
            detail = f"row {bad[0]} is {y[bad[0]].tolist()}" if bad.size else f"shape {y.shape}"
            raise ValueError(
                f"2-D y must be one-hot with at least 2 columns, (1, 0) = signal; {detail}"
            )
        return y
    raise ValueError(
        f"y must be class indices of shape (N,) or one-hot of shape (N, C); got shape {y.shape}"
    )


def signal_mask(y: ArrayLike, signal: int = 0) -> NDArray[np.bool_]:
    """True for the signal events of ``y`` (class indices or one-hot), shape ``(N,)``.

    ``signal`` is the label value (for class indices) or the column (for one-hot) of the
    signal class; 0 in the course's signal-first convention.
    """
    y = _labels(y)
    if y.ndim == 2:
        if not (int(signal) == signal and 0 <= signal < y.shape[1]):
            raise ValueError(
                f"signal must be a column index of the one-hot y (0 to {y.shape[1] - 1}); "
                f"got {signal!r}"
            )
        return y[:, int(signal)] == 1
    return y == signal


def _scores(score: ArrayLike, n_events: int) -> NDArray[np.float64]:
    """``score`` as a float array, after checking its shape, length and finiteness."""
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 1:
        raise ValueError(
            f"score must be 1-D, one number per event (e.g. the signal probability "
            f"proba[:, 0]); got shape {score.shape}"
        )
    if score.shape[0] != n_events:
        raise ValueError(
            f"y and score must have the same length; got {n_events} labels and "
            f"{score.shape[0]} scores"
        )
    bad = np.flatnonzero(~np.isfinite(score))
    if bad.size:
        raise ValueError(
            f"score must be finite; {bad.size} value(s) are not, the first is "
            f"score[{bad[0]}] = {score[bad[0]]}"
        )
    return score


def _checked(y: ArrayLike, score: ArrayLike, signal: int) -> tuple[NDArray, NDArray]:
    """Signal mask and float score, after checking lengths, finiteness and both classes."""
    is_signal = signal_mask(y, signal)
    score = _scores(score, is_signal.shape[0])
    n_sig = int(is_signal.sum())
    n_bkg = is_signal.size - n_sig
    if n_sig == 0 or n_bkg == 0:
        raise ValueError(
            f"y must contain both signal (label {signal}) and background events; got {n_sig} "
            f"signal and {n_bkg} background (did you mean signal=1? see the module docstring)"
        )
    return is_signal, score


def roc(
    y: ArrayLike, score: ArrayLike, *, signal: int = 0, drop_intermediate: bool = False
) -> RocCurve:
    """ROC curve in the seminar's convention (Figure 17): background rejection vs efficiency.

    ``y``: class indices (0 = signal) or one-hot rows, ``score``: one number per event, larger
    = more signal-like. Returns :class:`RocCurve` (signal efficiency eps_s, background
    rejection 1 - eps_b, thresholds), ordered by increasing eps_s. ``drop_intermediate=True``
    drops points on straight segments (lighter plots, same curve).
    """
    is_signal, score = _checked(y, score, signal)
    fpr, tpr, thresholds = roc_curve(
        is_signal, score, pos_label=True, drop_intermediate=drop_intermediate
    )
    return RocCurve(tpr, 1.0 - fpr, thresholds)


def auc(y: ArrayLike, score: ArrayLike, *, signal: int = 0) -> float:
    """Area under the ROC curve: P(score of a signal event > score of a background event),
    ties counting one half. Same value for the seminar's axes (rejection vs efficiency) as for
    the usual ones (eps_s vs eps_b). 1 = perfect separation, 0.5 = none."""
    is_signal, score = _checked(y, score, signal)
    return float(roc_auc_score(is_signal, score))


def background_rejection_at(
    y: ArrayLike,
    score: ArrayLike,
    signal_efficiency: float | ArrayLike = 0.5,
    *,
    signal: int = 0,
) -> float | NDArray[np.float64]:
    """Background rejection 1 - eps_b at a given signal efficiency eps_s in (0, 1].

    Linear interpolation between neighbouring ROC points (what a random choice among tied
    events would give on average). Where the curve is vertical at exactly the requested eps_s,
    the highest rejection is returned. ``signal_efficiency`` may be an array; the result then
    has its shape.
    """
    target = np.asarray(signal_efficiency, dtype=np.float64)
    out_of_range = ~np.isfinite(target) | (target <= 0.0) | (target > 1.0)
    if np.any(out_of_range):
        raise ValueError(
            f"signal_efficiency must lie in (0, 1]; got {target[out_of_range].ravel()[0]}"
        )
    curve = roc(y, score, signal=signal)
    eff, rej = curve.signal_efficiency, curve.background_rejection
    # eff rises from 0 to 1; k is the first point with eff >= target, so eff[k-1] < target.
    k = np.searchsorted(eff, target, side="left")
    t = (target - eff[k - 1]) / (eff[k] - eff[k - 1])
    result = rej[k - 1] + t * (rej[k] - rej[k - 1])
    return float(result) if result.ndim == 0 else result


def bootstrap(
    metric: Callable[[NDArray, NDArray], float],
    y: ArrayLike,
    score: ArrayLike,
    *,
    n: int,
    seed: int,
    level: float = 0.68,
) -> BootstrapResult:
    """Bootstrap spread of ``metric(y, score)`` (e.g. :func:`auc`) over ``n`` resamples.

    Each resample draws, with replacement, as many events of each class as the sample holds
    (a stratified bootstrap: the numbers of signal and background events are fixed by the
    analysis, so they are kept). ``seed`` seeds ``numpy.random.default_rng``: the same seed
    gives the same result. ``level`` is the probability content of the central percentile
    interval ``(low, high)``; 0.68 matches +-1 standard deviation of a normal distribution.
    The metric is called once per resample (scikit-learn metrics take one sample at a time).
    For a metric with options use e.g.
    ``functools.partial(background_rejection_at, signal_efficiency=0.5)``.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n (number of resamples) must be an integer >= 2; got {n!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level!r}")
    if not callable(metric):
        raise ValueError(f"metric must be a function metric(y, score) -> float; got {metric!r}")
    y = _labels(y)
    classes = y.argmax(axis=1) if y.ndim == 2 else y
    score = _scores(score, classes.shape[0])
    labels = np.unique(classes)
    if labels.size < 2:
        raise ValueError(
            f"y must contain at least two classes; got {classes.size} events, labels "
            f"{labels.tolist()}"
        )
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(classes == c) for c in labels]
    values = np.empty(int(n))
    for i in range(int(n)):
        idx = np.concatenate([m[rng.integers(0, m.size, size=m.size)] for m in members])
        values[i] = metric(y[idx], score[idx])
    half_tail = 50.0 * (1.0 - level)
    low, high = np.percentile(values, [half_tail, 100.0 - half_tail])
    return BootstrapResult(
        float(values.mean()), float(values.std(ddof=1)), float(low), float(high), values
    )
