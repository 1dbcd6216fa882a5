"""Tests of e2e_tutorial.comparison against independent truth: a perfectly separable toy task
gives AUC 1, labels independent of the inputs give AUC 0.5 within the bootstrap spread, the
table's AUCs equal scikit-learn's roc_auc_score with signal = 0 on scores computed by hand with
torch, the events of a split are those of the dataset files, binned means equal a direct numpy
computation, and bad input raises ValueError naming the value."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import TensorDataset  # noqa: E402

from e2e_tutorial import comparison, config, datasets, metrics, plots  # noqa: E402

OPTIONS = dict(batch_size=64, seed=3, n_bootstrap=30, device="cpu")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def toy_splits(rng: np.random.Generator, n: int, *, separable: bool) -> dict[str, TensorDataset]:
    """Two features per event, label 0 = signal. Separable: signal has x0 >= 1, background
    x0 <= -1. Otherwise the labels are drawn independently of the inputs."""
    out = {}
    for name in comparison.SPLITS:
        y = rng.integers(0, 2, size=n)
        x = rng.normal(size=(n, 2))
        if separable:
            x[:, 0] = np.where(y == 0, 1.0 + np.abs(x[:, 0]), -1.0 - np.abs(x[:, 0]))
        out[name] = TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    return out


def linear_candidate(name: str = "linear", inputs: str = "x", epochs: int = 4) -> comparison.Candidate:
    return comparison.Candidate(name, lambda: nn.Linear(2, 2), inputs, epochs=epochs, lr=0.05)


def test_separable_toy_task_gives_auc_one():
    splits = toy_splits(np.random.default_rng(0), 400, separable=True)
    r = comparison.train_and_evaluate(linear_candidate(), splits, **OPTIONS)
    assert r.auc == 1.0
    assert r.summary.auc_std < 1e-12  # every resample separates perfectly too
    np.testing.assert_allclose(r.summary.rejection, 1.0)
    assert r.n_parameters == 2 * 2 + 2
    assert 1 <= len(r.history) <= 4 and r.seconds > 0


def test_random_labels_give_auc_near_one_half():
    splits = toy_splits(np.random.default_rng(1), 2000, separable=False)
    r = comparison.train_and_evaluate(linear_candidate(), splits, **OPTIONS)
    assert abs(r.auc - 0.5) < 4 * r.summary.auc_std, (r.auc, r.summary.auc_std)
    assert 0.005 < r.summary.auc_std < 0.03  # ~ sqrt(1/(12 n_sig) + 1/(12 n_bkg)) = 0.009


def test_auc_equals_sklearn_with_signal_zero_on_scores_computed_by_hand():
    rng = np.random.default_rng(2)
    splits = toy_splits(rng, 300, separable=False)
    x_test, y_test = splits["test"].tensors
    x_test[:, 1] += torch.where(y_test == 0, 0.8, 0.0)  # some separation in feature 1
    results = comparison.compare([linear_candidate()], {"x": splits}, verbose=False, **OPTIONS)
    r = results["linear"]
    with torch.no_grad():
        by_hand = torch.softmax(r.model(x_test), dim=1)[:, 0].numpy()
    np.testing.assert_allclose(r.scores, by_hand, rtol=1e-6)
    np.testing.assert_array_equal(r.labels, y_test.numpy())
    expected = roc_auc_score(y_test.numpy() == 0, by_hand)  # sklearn: positive class = signal
    assert r.auc == pytest.approx(expected, abs=1e-12)
    table = comparison.auc_table({"toy task": results})
    assert f"{expected:.3f} ± {r.summary.auc_std:.3f}" in table
    k = list(r.summary.working_points).index(0.8)
    assert f"{r.summary.rejection[k]:.3f} ± {r.summary.rejection_std[k]:.3f}" in table


def test_same_seed_gives_the_same_result():
    splits = toy_splits(np.random.default_rng(4), 200, separable=False)
    a = comparison.train_and_evaluate(linear_candidate(), splits, **OPTIONS)
    b = comparison.train_and_evaluate(linear_candidate(), splits, **OPTIONS)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_compare_checks_names_inputs_and_that_the_test_events_agree():
    rng = np.random.default_rng(5)
    splits = toy_splits(rng, 100, separable=True)
    with pytest.raises(ValueError, match=r"\['twice'\] appear more than once"):
        comparison.compare([linear_candidate("twice"), linear_candidate("twice")], {"x": splits}, **OPTIONS)
    with pytest.raises(ValueError, match=r"read inputs \['pixels'\], which are not among \['x'\]"):
        comparison.compare([linear_candidate(inputs="pixels")], {"x": splits}, **OPTIONS)
    other = dict(splits)
    x, y = splits["test"].tensors
    other["test"] = TensorDataset(x, 1 - y)
    with pytest.raises(ValueError, match=r"test events of inputs 'other' and 'x' differ"):
        comparison.compare([linear_candidate("a"), linear_candidate("b", inputs="other")],
                           {"x": splits, "other": other}, **OPTIONS)
    with pytest.raises(ValueError, match=r"must map each of \('train', 'val', 'test'\)"):
        comparison.compare([linear_candidate()], {"x": {"train": splits["train"]}}, **OPTIONS)
    with pytest.raises(ValueError, match="candidates is empty"):
        comparison.compare([], {"x": splits}, **OPTIONS)


def test_build_must_return_a_module():
    splits = toy_splits(np.random.default_rng(6), 50, separable=True)
    bad = comparison.Candidate("bad", lambda: "not a network", "x", epochs=1)
    with pytest.raises(ValueError, match=r"'bad': build\(\) must return a torch nn.Module; got str"):
        comparison.train_and_evaluate(bad, splits, **OPTIONS)


def test_map_inputs_keeps_labels_and_checks_the_number_of_events():
    splits = toy_splits(np.random.default_rng(7), 40, separable=True)
    flipped = comparison.map_inputs(splits, lambda x: -x[:, :1])
    for name in comparison.SPLITS:
        assert flipped[name].tensors[0].shape == (40, 1)
        assert torch.equal(flipped[name].tensors[0], -splits[name].tensors[0][:, :1])
        assert torch.equal(flipped[name].tensors[1], splits[name].tensors[1])
    with pytest.raises(ValueError, match=r"one row per event \(40 in split 'train'\); got \(20, 2\)"):
        comparison.map_inputs(splits, lambda x: x[:20])


def test_labels_of_a_tensor_dataset_and_of_a_list():
    y = np.array([0, 1, 1, 0, 1])
    pairs = [(torch.zeros(2), torch.tensor(v)) for v in y]
    np.testing.assert_array_equal(comparison.labels_of(pairs), y)
    np.testing.assert_array_equal(comparison.labels_of(TensorDataset(torch.zeros(5, 2), torch.tensor(y))), y)
    with pytest.raises(ValueError, match="integer tensor of class indices; got dtype torch.float32"):
        comparison.labels_of(TensorDataset(torch.zeros(5, 2), torch.zeros(5)))


def test_split_values_are_the_events_of_the_split():
    h, gg = (datasets.course_path(p, config.FAST) for p in ("h", "gg"))
    task = datasets.binary_task(h, gg, "features", seed=11, n_per_class=100)
    test = comparison.tensor_splits(task)["test"]
    # The features read item by item through the torch datasets equal the file's arrays.
    np.testing.assert_array_equal(comparison.split_values(task.test, "features"), test.tensors[0].numpy())
    mass = comparison.split_values(task.test, "mass")
    assert mass.shape == (len(test),) and np.all(mass > 90.0)  # the selection's m > 90 GeV
    # Independently: the study's features are mass-free, pT1/m * m = pT1 of the stored photon.
    photons = comparison.split_values(task.test, "photons")
    np.testing.assert_allclose(test.tensors[0].numpy()[:, 0] * mass, photons["pt"][:, 0], rtol=1e-5)
    with pytest.raises(ValueError, match=r"got 'energy'"):
        comparison.split_values(task.test, "energy")
    with pytest.raises(ValueError, match="got TensorDataset"):
        comparison.split_values(test, "mass")


def test_auc_difference_is_paired_antisymmetric_and_zero_for_equal_scores():
    rng = np.random.default_rng(8)
    n = 400
    y = np.repeat([0, 1], n // 2)
    common = rng.normal(size=n) + np.where(y == 0, 1.0, 0.0)
    a = common + 0.3 * rng.normal(size=n)
    b = common + 0.3 * rng.normal(size=n) + np.where(y == 0, 0.3, 0.0)
    same = comparison.auc_difference(y, a, a, n=50, seed=1)
    assert np.all(same.values == 0.0)
    ab = comparison.auc_difference(y, a, b, n=200, seed=1)
    ba = comparison.auc_difference(y, b, a, n=200, seed=1)
    np.testing.assert_allclose(ab.values, -ba.values, atol=1e-12)
    assert ab.mean == pytest.approx(metrics.auc(y, a) - metrics.auc(y, b), abs=3 * ab.std)
    # The paired spread is smaller than the two single spreads added in quadrature, because
    # the two classifiers share most of their score.
    sa = metrics.bootstrap(metrics.auc, y, a, n=200, seed=1).std
    sb = metrics.bootstrap(metrics.auc, y, b, n=200, seed=1).std
    assert ab.std < 0.7 * np.hypot(sa, sb)
    with pytest.raises(ValueError, match=r"shapes \(400,\) and \(399,\)"):
        comparison.auc_difference(y, a, b[:-1], n=10, seed=1)


def test_window_summary_equals_metrics_on_the_events_inside():
    splits = toy_splits(np.random.default_rng(9), 300, separable=False)
    r = comparison.train_and_evaluate(linear_candidate(), splits, **OPTIONS)
    mass = np.linspace(90.0, 200.0, r.scores.size)
    w = comparison.window_summary(r, mass, 110.0, 150.0, n_bootstrap=20, seed=0)
    inside = (mass > 110) & (mass < 150)
    assert w.auc == pytest.approx(metrics.auc(r.labels[inside], r.scores[inside]), abs=1e-12)
    assert w.n_signal + w.n_background == inside.sum()
    with pytest.raises(ValueError, match=r"window \(300.0, 400.0\) holds 0 signal and 0 background"):
        comparison.window_summary(r, mass, 300.0, 400.0, n_bootstrap=20, seed=0)
    with pytest.raises(ValueError, match=r"low < high; got low=150.0, high=110.0"):
        comparison.window_summary(r, mass, 150.0, 110.0, n_bootstrap=20, seed=0)
    with pytest.raises(ValueError, match="one number per test event"):
        comparison.window_summary(r, mass[:-1], 110.0, 150.0, n_bootstrap=20, seed=0)


def test_auc_table_marks_missing_classifiers_and_checks_the_working_point():
    rng = np.random.default_rng(10)
    y = np.repeat([0, 1], 100)
    s = rng.normal(size=200) + np.where(y == 0, 1.0, 0.0)
    summary = plots.roc_summary(y, s, n_bootstrap=10, seed=0, name="A")
    table = comparison.auc_table({"task 1": {"A": summary, "B": summary}, "task 2": {"A": summary}})
    lines = table.splitlines()
    assert "task 1" in lines[0] and "task 2" in lines[0]
    row_b = next(line for line in lines if line.startswith("B "))
    assert row_b.split()[-1] == "-"  # B was not run on task 2
    assert f"{summary.auc:.3f} ± {summary.auc_std:.3f}" in row_b
    with pytest.raises(ValueError, match=r"working_point 0.9 is not among the working points \[0.5, 0.8\]"):
        comparison.auc_table({"task 1": {"A": summary}}, working_point=0.9)
    with pytest.raises(ValueError, match="expected a Result or a plots.RocSummary; got float"):
        comparison.auc_table({"task 1": {"A": 0.8}})


def test_binned_mean_equals_a_direct_computation():
    rng = np.random.default_rng(11)
    values = rng.uniform(80.0, 210.0, size=500)
    scores = rng.random(500)
    edges = np.array([90.0, 110.0, 125.0, 200.0])
    mean, error, count = comparison.binned_mean(values, scores, edges)
    for k in range(3):
        inside = (values >= edges[k]) & (values < edges[k + 1])
        assert count[k] == inside.sum()
        assert mean[k] == pytest.approx(scores[inside].mean())
        assert error[k] == pytest.approx(scores[inside].std(ddof=1) / np.sqrt(inside.sum()))
    # The upper edge belongs to the last bin; a bin with one event has no mean.
    m, e, c = comparison.binned_mean([1.0, 2.0, 3.0], [0.2, 0.4, 0.6], [0.0, 1.5, 3.0])
    assert c.tolist() == [1, 2] and np.isnan(m[0]) and m[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"bins must be at least two finite, increasing edges; got \[2.0, 1.0\]"):
        comparison.binned_mean(values, scores, [2.0, 1.0])
    with pytest.raises(ValueError, match=r"equal length; got shapes \(500,\) and \(499,\)"):
        comparison.binned_mean(values, scores[:-1], edges)


def test_score_profile_draws_one_line_per_classifier_at_the_binned_means():
    values = np.array([95.0, 97.0, 121.0, 122.0, 124.0])
    scores = {"flat": np.full(5, 0.3), "peaked": np.array([0.1, 0.1, 0.8, 0.9, 0.7])}
    fig, ax = comparison.score_profile(values, scores, [90.0, 100.0, 130.0], marker=125.0)
    lines = [c for c in ax.containers if (c.get_label() or "") in scores]
    assert len(lines) == 2
    peaked_y = lines[1].lines[0].get_ydata()
    np.testing.assert_allclose(peaked_y, [0.1, 0.8])
    assert any(a.get_gid() == "marker" for a in ax.lines)
    with pytest.raises(ValueError, match="scores must map classifier names"):
        comparison.score_profile(values, {}, [90.0, 130.0])
