"""Tests of e2e_tutorial.metrics against values computed by hand on tiny samples, the
Mann-Whitney U statistic (an AUC computed without any ROC curve), the analytic AUC of two
Gaussians and DeLong's variance, and the input checks."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from e2e_tutorial import metrics as mt

# Hand example with ties. Signal (label 0) scores 0.9, 0.6, 0.6, 0.2; background (label 1)
# scores 0.6, 0.3, 0.1, 0.05. Selecting score >= t, the ROC points (eps_s, 1 - eps_b) are
#   t = inf: (0, 1)     t = 0.9: (1/4, 1)     t = 0.6: (3/4, 3/4)    t = 0.3: (3/4, 1/2)
#   t = 0.2: (1, 1/2)   t = 0.1: (1, 1/4)     t = 0.05: (1, 0)
# Pairs (signal, background) with signal higher: 0.9 beats 4, each 0.6 beats 3 and ties 1,
# 0.2 beats 2 -> AUC = (4 + 2 * 3.5 + 2) / 16 = 13/16.
Y_TIES = np.array([0, 0, 0, 0, 1, 1, 1, 1])
S_TIES = np.array([0.9, 0.6, 0.6, 0.2, 0.6, 0.3, 0.1, 0.05])


def gaussian_sample(rng: np.random.Generator, n_per_class: int, separation: float = 1.0):
    """Signal scores ~ N(separation, 1) (label 0), background ~ N(0, 1) (label 1).
    True AUC = P(S > B) = Phi(separation / sqrt 2)."""
    y = np.repeat([0, 1], n_per_class)
    score = np.concatenate(
        [rng.normal(separation, 1.0, n_per_class), rng.normal(0.0, 1.0, n_per_class)]
    )
    return y, score


def mann_whitney_auc(y: np.ndarray, score: np.ndarray, signal: int = 0) -> float:
    """AUC = U / (n_s n_b), U from the rank sum of the signal scores (average ranks for ties)."""
    ranks = rankdata(score)
    is_sig = y == signal
    n_s, n_b = is_sig.sum(), (~is_sig).sum()
    u = ranks[is_sig].sum() - n_s * (n_s + 1) / 2.0
    return u / (n_s * n_b)


# --------------------------------------------------------------------------- ROC


def test_roc_points_of_the_hand_example():
    curve = mt.roc(Y_TIES, S_TIES)
    np.testing.assert_allclose(curve.signal_efficiency, [0, 0.25, 0.75, 0.75, 1, 1, 1])
    np.testing.assert_allclose(curve.background_rejection, [1, 1, 0.75, 0.5, 0.5, 0.25, 0])
    np.testing.assert_allclose(curve.thresholds, [np.inf, 0.9, 0.6, 0.3, 0.2, 0.1, 0.05])


def test_roc_is_unpackable_and_starts_and_ends_at_the_corners():
    rng = np.random.default_rng(1)
    y, s = gaussian_sample(rng, 200)
    eff, rej, thr = mt.roc(y, s)
    assert (eff[0], rej[0], eff[-1], rej[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert np.all(np.diff(eff) >= 0) and np.all(np.diff(rej) <= 0)
    assert np.all(np.diff(thr) < 0)
    # eps_s at each threshold, counted directly
    for t, e, r in zip(thr[1::37], eff[1::37], rej[1::37]):
        assert e == np.mean(s[y == 0] >= t) and r == 1.0 - np.mean(s[y == 1] >= t)


def test_area_under_rejection_vs_efficiency_equals_auc():
    rng = np.random.default_rng(2)
    y, s = gaussian_sample(rng, 500)
    eff, rej, _ = mt.roc(y, s)
    assert np.trapezoid(rej, eff) == pytest.approx(mt.auc(y, s), abs=1e-12)
    assert np.trapezoid(*mt.roc(Y_TIES, S_TIES)[1::-1]) == pytest.approx(13 / 16, abs=1e-15)


def test_drop_intermediate_keeps_the_curve():
    rng = np.random.default_rng(3)
    y, s = gaussian_sample(rng, 300)
    s = np.round(s, 1)  # many ties -> straight segments
    full, light = mt.roc(y, s), mt.roc(y, s, drop_intermediate=True)
    assert light.thresholds.size < full.thresholds.size
    # every kept point is a point of the full curve
    full_points = set(zip(full.signal_efficiency, full.background_rejection))
    assert set(zip(light.signal_efficiency, light.background_rejection)) <= full_points
    assert np.trapezoid(light.background_rejection, light.signal_efficiency) == pytest.approx(
        np.trapezoid(full.background_rejection, full.signal_efficiency), abs=1e-12
    )


# --------------------------------------------------------------------------- AUC


def test_auc_perfect_reversed_random_and_hand_example():
    y = np.array([0, 0, 0, 1, 1, 1])
    assert mt.auc(y, [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]) == 1.0
    assert mt.auc(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]) == 0.0
    assert mt.auc(y, np.full(6, 0.5)) == 0.5
    assert mt.auc(Y_TIES, S_TIES) == 13 / 16


def test_auc_equals_mann_whitney_on_random_data_with_ties():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=3000)  # three classes: 0 = signal, 1 and 2 = background
    score = np.round(rng.normal(size=3000) - 0.4 * y, 2)
    assert mt.auc(y, score) == pytest.approx(mann_whitney_auc(y, score), abs=1e-12)


def test_auc_of_two_gaussians_is_close_to_the_analytic_value():
    y, s = gaussian_sample(np.random.default_rng(5), 20000)
    assert mt.auc(y, s) == pytest.approx(norm.cdf(1.0 / math.sqrt(2.0)), abs=0.01)  # 0.7602


def test_label_conventions_one_hot_and_signal_argument():
    """0 = signal by default; one-hot rows (1, 0) = signal; signal=1 flips to the other
    convention, and swapping signal and background turns AUC into 1 - AUC."""
    rng = np.random.default_rng(6)
    y, s = gaussian_sample(rng, 300)
    a = mt.auc(y, s)
    assert a > 0.6
    assert mt.auc(np.eye(2)[y], s) == a
    assert mt.auc(1 - y, s, signal=1) == a
    assert mt.auc(y, s, signal=1) == pytest.approx(1.0 - a, abs=1e-12)
    assert mt.auc(y.astype(float), s) == a
    np.testing.assert_array_equal(mt.signal_mask(np.eye(3)[[0, 2, 1, 0]]), [1, 0, 0, 1])


# --------------------------------------------------------------------------- rejection at eps_s


@pytest.mark.parametrize(
    "efficiency, rejection",
    [
        (0.25, 1.0),  # on a point: t = 0.9 keeps 1 of 4 signal, no background
        (0.5, 0.875),  # half way between (1/4, 1) and (3/4, 3/4): the tie at 0.6 is split
        (0.75, 0.75),  # vertical segment at 3/4: the best rejection there
        (0.1, 1.0),
        (1.0, 0.5),  # all signal kept needs t = 0.2, which keeps 2 of 4 background
    ],
)
def test_background_rejection_by_hand(efficiency, rejection):
    result = mt.background_rejection_at(Y_TIES, S_TIES, efficiency)
    assert result == pytest.approx(rejection, abs=1e-15)


def test_background_rejection_without_ties_and_array_input():
    # signal 0.9 0.7 0.5 0.3, background 0.8 0.4 0.2 0.1: keeping 2 of 4 signal (t = 0.7)
    # keeps 1 of 4 background -> rejection 3/4 at eps_s = 50 %
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.9, 0.7, 0.5, 0.3, 0.8, 0.4, 0.2, 0.1])
    assert mt.background_rejection_at(y, s) == 0.75
    # t = 0.5 (eps_s = 3/4) still keeps only 0.8; t = 0.3 (eps_s = 1) keeps 0.8 and 0.4
    out = mt.background_rejection_at(y, s, np.array([0.5, 0.75, 1.0]))
    np.testing.assert_allclose(out, [0.75, 0.75, 0.5], rtol=0, atol=1e-15)


def test_background_rejection_of_two_gaussians_matches_the_analytic_value():
    # eps_s = 0.5 -> cut at the signal median 1.0 -> eps_b = 1 - Phi(1) -> rejection Phi(1)
    y, s = gaussian_sample(np.random.default_rng(7), 20000)
    assert mt.background_rejection_at(y, s, 0.5) == pytest.approx(norm.cdf(1.0), abs=0.01)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, np.nan])
def test_background_rejection_rejects_efficiency_outside_0_1(bad):
    with pytest.raises(ValueError, match=r"signal_efficiency must lie in \(0, 1\]"):
        mt.background_rejection_at(Y_TIES, S_TIES, bad)


# --------------------------------------------------------------------------- bootstrap


def delong_std(y: np.ndarray, score: np.ndarray) -> float:
    """DeLong's standard error of the AUC (an independent, analytic estimate)."""
    sig, bkg = score[y == 0], score[y == 1]
    order = np.sort(bkg)
    below = np.searchsorted(order, sig, "left") + 0.5 * (
        np.searchsorted(order, sig, "right") - np.searchsorted(order, sig, "left")
    )
    v10 = below / bkg.size  # per signal event: fraction of background it beats
    order = np.sort(sig)
    above = sig.size - np.searchsorted(order, bkg, "right") + 0.5 * (
        np.searchsorted(order, bkg, "right") - np.searchsorted(order, bkg, "left")
    )
    v01 = above / sig.size  # per background event: fraction of signal above it
    assert v10.mean() == pytest.approx(mt.auc(y, score), abs=1e-12)
    return math.sqrt(v10.var(ddof=1) / sig.size + v01.var(ddof=1) / bkg.size)


def test_bootstrap_std_matches_delong_and_interval_covers_true_auc():
    y, s = gaussian_sample(np.random.default_rng(8), 3000)
    result = mt.bootstrap(mt.auc, y, s, n=300, seed=1, level=0.95)
    assert result.values.shape == (300,)
    assert result.std == pytest.approx(delong_std(y, s), rel=0.15)
    assert result.mean == pytest.approx(mt.auc(y, s), abs=2 * result.std / math.sqrt(300) + 1e-3)
    true_auc = norm.cdf(1.0 / math.sqrt(2.0))
    assert result.low < true_auc < result.high
    assert result.low < result.mean < result.high
    # a 95 % interval spans about +-1.96 standard deviations
    assert (result.high - result.low) == pytest.approx(2 * 1.96 * result.std, rel=0.2)


def test_bootstrap_is_reproducible_and_stratified():
    y, s = gaussian_sample(np.random.default_rng(9), 200)
    calls = []

    def counting_auc(yb, sb):
        calls.append(np.bincount(yb, minlength=2))
        return mt.auc(yb, sb)

    a = mt.bootstrap(counting_auc, y, s, n=50, seed=42)
    b = mt.bootstrap(mt.auc, y, s, n=50, seed=42)
    c = mt.bootstrap(mt.auc, y, s, n=50, seed=43)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    assert all(np.array_equal(counts, [200, 200]) for counts in calls)  # class sizes kept
    assert np.unique(a.values).size > 40  # the resamples differ


def test_bootstrap_with_a_metric_that_takes_options_and_one_hot_labels():
    y, s = gaussian_sample(np.random.default_rng(10), 400)
    metric = functools.partial(mt.background_rejection_at, signal_efficiency=0.5)
    r = mt.bootstrap(metric, np.eye(2)[y], s, n=100, seed=0)
    assert r.low < mt.background_rejection_at(y, s, 0.5) < r.high
    assert 0.0 < r.std < 0.1


def test_bootstrap_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n .* integer >= 2; got 1"):
        mt.bootstrap(mt.auc, Y_TIES, S_TIES, n=1, seed=0)
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\); got 95"):
        mt.bootstrap(mt.auc, Y_TIES, S_TIES, n=10, seed=0, level=95)
    with pytest.raises(ValueError, match="at least two classes; got 4 events, labels \\[1\\]"):
        mt.bootstrap(mt.auc, np.ones(4, int), np.arange(4.0), n=10, seed=0)
    with pytest.raises(ValueError, match="same length; got 8 labels and 7 scores"):
        mt.bootstrap(mt.auc, Y_TIES, S_TIES[:7], n=10, seed=0)


# --------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("func", [mt.roc, mt.auc, mt.background_rejection_at])
def test_input_validation_messages(func):
    with pytest.raises(ValueError, match="same length; got 8 labels and 6 scores"):
        func(Y_TIES, S_TIES[:6])
    with pytest.raises(ValueError, match=r"both signal \(label 0\) and background.*got 0 signal"):
        func(np.ones(4, int), [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="got 4 signal and 0 background.*signal=1"):
        func(np.zeros(4, int), [0.1, 0.2, 0.3, 0.4])
    s = S_TIES.copy()
    s[5] = np.nan
    with pytest.raises(ValueError, match=r"finite; 1 value\(s\) are not.*score\[5\] = nan"):
        func(Y_TIES, s)
    with pytest.raises(ValueError, match=r"score must be 1-D.*proba\[:, 0\]\); got shape \(8, 2\)"):
        func(Y_TIES, np.stack([S_TIES, 1 - S_TIES], axis=1))
    with pytest.raises(ValueError, match="boolean"):
        func(Y_TIES == 0, S_TIES)
    with pytest.raises(ValueError, match=r"integer class indices.*y\[2\] = 0.5"):
        func(np.array([0, 1, 0.5, 1]), [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"one-hot.*row 1 is \[0.5, 0.5\]"):
        func(np.array([[1, 0], [0.5, 0.5]]), [0.1, 0.2])
    with pytest.raises(ValueError, match=r"column index of the one-hot y \(0 to 1\); got 2"):
        func(np.eye(2)[[0, 1]], [0.1, 0.2], signal=2)
