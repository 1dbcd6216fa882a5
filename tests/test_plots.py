"""Tests of e2e_tutorial.plots: what each figure draws is checked against the numbers it was
given (curves, bar heights, node counts against layer sizes), the ROC orientation against the
seminar's convention (Figure 17), the ROC numbers against e2e_tutorial.metrics and the analytic
AUC of two Gaussians, and the two-parameter loss and its gradient against closed forms, finite
differences and torch autograd."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from scipy.stats import norm  # noqa: E402

from e2e_tutorial import metrics, numpy_nn, plots  # noqa: E402
from e2e_tutorial.models import FCN  # noqa: E402
from e2e_tutorial.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _render(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


def _by_gid(artists, prefix: str) -> list:
    return [a for a in artists if (a.get_gid() or "").startswith(prefix)]


def gaussian_sample(rng, n_per_class: int, separation: float):
    """Signal (label 0) scores ~ N(separation, 1), background (label 1) ~ N(0, 1); the true
    AUC is Phi(separation / sqrt 2)."""
    y = np.repeat([0, 1], n_per_class)
    s = np.concatenate([rng.normal(separation, 1.0, n_per_class), rng.normal(0.0, 1.0, n_per_class)])
    return y, s


def make_history(n_epochs: int, offset: float = 0.0) -> History:
    h = History()
    for e in range(1, n_epochs + 1):
        h.append(e, 0.7 - 0.05 * e + offset, {"loss": 0.72 - 0.04 * e, "accuracy": 0.5 + 0.03 * e,
                                               "auc": 0.55 + 0.04 * e}, 0.1)
    return h


# ------------------------------------------------------------------------- training curves


def test_training_curves_one_curve_per_run_and_quantity():
    runs = {"a": make_history(4), "b": make_history(6, 0.01)}
    fig, axes = plots.training_curves(runs, chance_loss=math.log(2))
    assert len(axes) == 3
    loss, acc, auc = axes
    assert len(_by_gid(loss.lines, "curve-loss-train-")) == 2
    assert len(_by_gid(loss.lines, "curve-loss-val-")) == 2
    assert len(_by_gid(acc.lines, "curve-accuracy-")) == 2
    assert len(_by_gid(auc.lines, "curve-auc-")) == 2
    (line,) = _by_gid(auc.lines, "curve-auc-b")
    np.testing.assert_allclose(line.get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(line.get_ydata(), runs["b"].val_auc)
    (train_a,) = _by_gid(loss.lines, "curve-loss-train-a")
    np.testing.assert_allclose(train_a.get_ydata(), runs["a"].train_loss)
    (ref,) = _by_gid(loss.lines, "reference-loss")
    assert ref.get_ydata()[0] == pytest.approx(math.log(2))
    (ref_auc,) = _by_gid(auc.lines, "reference-auc")
    assert ref_auc.get_ydata()[0] == 0.5
    assert [ax.get_xlabel() for ax in axes] == ["Epoch"] * 3
    assert "loss" in loss.get_ylabel().lower() and "AUC" in auc.get_ylabel()
    assert "accuracy" in acc.get_ylabel().lower()
    _render(fig)


def test_training_curves_single_history_and_panel_choice():
    fig, axes = plots.training_curves(make_history(3), panels=("auc",))
    assert len(axes) == 1 and len(_by_gid(axes[0].lines, "curve-auc-")) == 1


def test_training_curves_rejects_empty_and_unknown():
    with pytest.raises(ValueError, match="no epochs"):
        plots.training_curves(History())
    with pytest.raises(ValueError, match="panels"):
        plots.training_curves(make_history(2), panels=("speed",))


# ------------------------------------------------------------------------- histograms


def test_class_histograms_one_normalised_histogram_per_class(rng):
    values = np.concatenate([rng.uniform(0, 1, 300), rng.uniform(0, 1, 100)])
    labels = np.repeat([0, 1], [300, 100])
    fig, ax = plots.class_histograms(values, labels, ("h", "gj"), bins=10, range=(0, 1), xlabel="x")
    hists = {p.get_gid(): p for p in _by_gid(ax.patches, "hist-")}
    assert set(hists) == {"hist-0", "hist-1"}
    for gid, n in (("hist-0", 300), ("hist-1", 100)):
        heights = hists[gid].get_data().values
        assert heights.sum() == pytest.approx(1.0)  # every value inside the range
        expected, _ = np.histogram(values[labels == int(gid[-1])], bins=10, range=(0, 1))
        np.testing.assert_allclose(heights, expected / n)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [plots.class_label("h"), plots.class_label("gj")]
    assert hists["hist-0"].get_facecolor()[:3] == pytest.approx(matplotlib.colors.to_rgb(plots.PROCESS_COLORS["h"]))
    assert ax.get_xlabel() == "x" and "Fraction" in ax.get_ylabel()


def test_class_histograms_overflow_goes_into_the_edge_bins():
    values = np.array([-5.0, 0.05, 0.5, 0.95, 7.0, 9.0])
    labels = np.zeros(6, dtype=int)
    _, ax = plots.class_histograms(values, labels, ("a",), bins=10, range=(0, 1), overflow=True)
    heights = _by_gid(ax.patches, "hist-0")[0].get_data().values
    assert heights.sum() == pytest.approx(1.0)
    assert heights[0] == pytest.approx(2 / 6) and heights[-1] == pytest.approx(3 / 6)
    _, ax = plots.class_histograms(values, labels, ("a",), bins=10, range=(0, 1))
    assert _by_gid(ax.patches, "hist-0")[0].get_data().values.sum() == pytest.approx(3 / 6)


def test_feature_histograms_one_panel_per_feature(rng):
    names = ["pt1_over_m", "eta1", "pt2_over_m", "eta2", "cos_dphi"]
    features = np.column_stack([rng.uniform(0.3, 2.0, 90), rng.normal(0, 1, 90), rng.uniform(0.2, 0.8, 90),
                                rng.normal(0, 1, 90), rng.uniform(-1, 1, 90)])
    labels = np.repeat([0, 1, 2], 30)
    fig, axes = plots.feature_histograms(features, labels, ("h", "gg", "gj"), names, logy=["cos_dphi"])
    visible = [ax for ax in axes.flat if ax.get_visible()]
    assert len(visible) == 5 and axes.shape == (2, 3)
    for ax, name in zip(visible, names):
        assert ax.get_xlabel() == plots.FEATURE_LABELS[name]
        assert ax.get_xlim() == pytest.approx(plots.FEATURE_RANGES[name])
        for hist in _by_gid(ax.patches, "hist-"):
            assert hist.get_data().values.sum() == pytest.approx(1.0)  # overflow kept
        assert len(_by_gid(ax.patches, "hist-")) == 3
    assert visible[4].get_yscale() == "log" and visible[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="feature_names"):
        plots.feature_histograms(features[:, :4], labels, ("h", "gg", "gj"), names)


def test_score_distributions_axis_is_the_signal_score(rng):
    y, s = gaussian_sample(rng, 50, 1.0)
    fig, ax = plots.score_distributions(1 / (1 + np.exp(-s)), y, ("signal", "background"))
    assert ax.get_xlim() == (0.0, 1.0)
    assert "Signal score" in ax.get_xlabel()
    assert len(_by_gid(ax.patches, "hist-")) == 2


def test_class_histograms_rejects_bad_labels():
    with pytest.raises(ValueError, match="one class index per value"):
        plots.class_histograms([0.1, 0.2], [0], ("a", "b"))
    with pytest.raises(ValueError, match=r"lie in \[0, 2\)"):
        plots.class_histograms([0.1, 0.2], [0, 2], ("a", "b"))
    with pytest.raises(ValueError, match="integer"):
        plots.class_histograms([0.1, 0.2], [0.0, 1.0], ("a", "b"))


# ------------------------------------------------------------------------- ROC


def test_roc_summary_numbers_agree_with_metrics(rng):
    y, s = gaussian_sample(rng, 400, 1.0)
    summary = plots.roc_summary(y, s, n_bootstrap=30, seed=1, name="toy")
    assert summary.auc == pytest.approx(metrics.auc(y, s))
    np.testing.assert_allclose(summary.rejection, metrics.background_rejection_at(y, s, [0.5, 0.8]))
    np.testing.assert_allclose(summary.curve.signal_efficiency, metrics.roc(y, s).signal_efficiency)
    assert (summary.n_signal, summary.n_background, summary.n_bootstrap) == (400, 400, 30)
    # the same bootstrap as metrics.bootstrap with the same seed
    boot = metrics.bootstrap(metrics.auc, y, s, n=30, seed=1)
    assert summary.auc_std == pytest.approx(boot.std)


def test_roc_summary_against_the_analytic_auc_of_two_gaussians(rng):
    """True AUC Phi(d / sqrt 2); the bootstrap spread should match the spread of the AUC over
    independent samples (estimated here from the DeLong-like normal approximation of Hanley and
    McNeil, checked loosely)."""
    d, n = 1.0, 2000
    y, s = gaussian_sample(rng, n, d)
    summary = plots.roc_summary(y, s, n_bootstrap=100, seed=3)
    truth = norm.cdf(d / math.sqrt(2))
    assert abs(summary.auc - truth) < 4 * summary.auc_std
    a = truth
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    hanley = math.sqrt((a * (1 - a) + (n - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (n * n))
    assert 0.7 * hanley < summary.auc_std < 1.4 * hanley
    # at 50 % signal efficiency the threshold is the signal median d, which rejects the
    # background below it: a fraction Phi(d)
    assert abs(summary.rejection[0] - norm.cdf(d)) < 4 * summary.rejection_std[0]


def test_roc_band_brackets_the_curve(rng):
    y, s = gaussian_sample(rng, 300, 1.2)
    summary = plots.roc_summary(y, s, n_bootstrap=60, seed=5)
    central = metrics.background_rejection_at(y, s, summary.band_efficiency)
    inside = (summary.band_low <= central + 1e-12) & (central <= summary.band_high + 1e-12)
    assert inside.mean() > 0.9
    assert np.all(summary.band_low <= summary.band_high)


def test_perfect_separation_rejects_everything_at_any_working_point():
    y = np.repeat([0, 1], 50)
    s = np.concatenate([np.linspace(0.6, 1, 50), np.linspace(0, 0.4, 50)])
    summary = plots.roc_summary(y, s, n_bootstrap=5, seed=0)
    assert summary.auc == 1.0
    np.testing.assert_allclose(summary.rejection, 1.0)


def test_roc_curves_follow_the_seminar_convention(rng):
    """Figure 17: x = signal efficiency, y = background rejection; curves run from (0, 1) to
    (1, 0) and a classifier better than random lies above the diagonal rejection = 1 - eff."""
    good = plots.roc_summary(*gaussian_sample(rng, 300, 1.5), n_bootstrap=10, seed=0, name="good")
    weak = plots.roc_summary(*gaussian_sample(rng, 300, 0.5), n_bootstrap=10, seed=0, name="weak")
    fig, ax = plots.roc_curves([good, weak])
    assert "efficiency" in ax.get_xlabel().lower() and "rejection" in ax.get_ylabel().lower()
    assert ax.get_xlim() == (0.0, 1.0)
    curves = sorted(_by_gid(ax.lines, "roc-"), key=lambda l: l.get_gid())
    gids = [c.get_gid() for c in curves]
    assert gids == ["roc-0", "roc-1", "roc-random"]
    for line in curves[:2]:
        x, yv = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert (x[0], yv[0], x[-1], yv[-1]) == (0.0, 1.0, 1.0, 0.0)
        assert np.all(np.diff(x) >= 0) and np.all(np.diff(yv) <= 0)
        assert np.mean(yv >= 1 - x) > 0.95  # above the random-guess diagonal
    random = curves[2]
    np.testing.assert_allclose(random.get_ydata(), 1 - np.asarray(random.get_xdata()))
    # the better classifier's curve is higher at every efficiency of the grid
    assert np.all(good.band_high >= weak.band_low) and good.auc > weak.auc
    assert len(_by_gid(ax.collections, "band-")) == 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(f"{good.auc:.3f}" in t for t in legend) and any("weak" in t for t in legend)
    _render(fig)


def test_roc_curves_accepts_a_mapping_and_renames(rng):
    s = plots.roc_summary(*gaussian_sample(rng, 100, 1.0), n_bootstrap=5, seed=0)
    fig, ax = plots.roc_curves({"renamed": s}, band=False, working_points=False, random_line=False)
    assert [l.get_gid() for l in ax.lines] == ["roc-0"]
    assert "renamed" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="RocSummary"):
        plots.roc_curves([s, 0.9])


def test_roc_table_lists_every_summary(rng):
    a = plots.roc_summary(*gaussian_sample(rng, 100, 1.0), n_bootstrap=5, seed=0, name="task A")
    b = plots.roc_summary(*gaussian_sample(rng, 100, 2.0), n_bootstrap=5, seed=0, name="task B")
    table = plots.roc_table([a, b])
    lines = table.splitlines()
    assert len(lines) == 3 and "50 %" in lines[0] and "80 %" in lines[0]
    assert lines[1].startswith("task A") and f"{b.auc:.3f}" in lines[2]


def test_roc_summary_rejects_bad_working_points(rng):
    y, s = gaussian_sample(rng, 20, 1.0)
    with pytest.raises(ValueError, match="working_points"):
        plots.roc_summary(y, s, n_bootstrap=5, seed=0, working_points=(0.0,))


# ------------------------------------------------------------------------- Figure 9


@pytest.mark.parametrize("hidden", [(3,), (4, 6), (7, 2, 5)])
def test_fcn_diagram_draws_one_node_per_neuron(hidden):
    torch.manual_seed(0)
    model = FCN(5, hidden=hidden)
    fig, ax = plots.fcn_diagram(model, max_nodes=10)
    sizes = [5, *hidden, 2]
    nodes = plots.drawn_nodes(ax)
    assert list(nodes) == list(range(len(sizes)))
    assert [len(nodes[layer]) for layer in nodes] == sizes
    # every neuron joined to every neuron of the previous layer
    for layer in range(1, len(sizes)):
        (edges,) = [c for c in ax.collections if c.get_gid() == f"edges-{layer}"]
        assert isinstance(edges, LineCollection)
        assert len(edges.get_segments()) == sizes[layer - 1] * sizes[layer]
        text = [t.get_text() for t in ax.texts if t.get_gid() == f"weights-{layer}"][0]
        assert f"{sizes[layer - 1]} × {sizes[layer]}" in text
    assert not [t for t in ax.texts if (t.get_gid() or "").startswith("ellipsis")]
    _render(fig)


def test_fcn_diagram_truncates_big_layers_and_names_their_size():
    torch.manual_seed(0)
    model = FCN(5)  # (5, 64, 64, 2)
    fig, ax = plots.fcn_diagram(model, max_nodes=8, show_weights=True,
                                input_labels=[f"x{i}" for i in range(5)])
    nodes = plots.drawn_nodes(ax)
    assert [len(v) for v in nodes.values()] == [5, 8, 8, 2]
    assert nodes[1] == [0, 1, 2, 3, 60, 61, 62, 63]  # first and last neurons, true indices
    assert {t.get_gid() for t in ax.texts if (t.get_gid() or "").startswith("ellipsis")} == {
        "ellipsis-1", "ellipsis-2"}
    titles = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("layer-")}
    assert "64 neurons" in titles["layer-1"] and "5 features" in titles["layer-0"]
    assert "2 classes" in titles["layer-3"]
    # with weights shown, each edge's colour follows the sign of its weight
    W = model.seminar_parameters()[2][0]  # (64, 2)
    (edges,) = [c for c in ax.collections if c.get_gid() == "edges-3"]
    colors = edges.get_colors()
    shown = nodes[2]
    expected_red = np.array([W[j, i] > 0 for i in nodes[3] for j in shown])
    assert np.array_equal(colors[:, 0] > colors[:, 2], expected_red)
    _render(fig)


def test_fcn_diagram_from_shapes_and_bad_shapes():
    fig, ax = plots.fcn_diagram([(3, 4), (4, 2)])
    assert [len(v) for v in plots.drawn_nodes(ax).values()] == [3, 4, 2]
    with pytest.raises(ValueError, match="do not chain"):
        plots.fcn_diagram([(3, 4), (5, 2)])
    with pytest.raises(ValueError, match="input_labels"):
        plots.fcn_diagram([(3, 4), (4, 2)], input_labels=["a"])
    with pytest.raises(ValueError, match="seminar_parameters"):
        plots.fcn_diagram([(3, 4), (4, 2)], show_weights=True)


# ------------------------------------------------------------------------- Figure 10


def test_relu_plot_is_max_of_zero_and_z():
    fig, ax = plots.relu_plot(z_range=(-2, 3))
    (relu,) = [l for l in ax.lines if l.get_gid() == "relu"]
    z, a = np.asarray(relu.get_xdata()), np.asarray(relu.get_ydata())
    np.testing.assert_array_equal(a, np.maximum(z, 0))
    assert z.min() == -2 and z.max() == 3
    (grad,) = _by_gid(ax.lines, "relu-grad")
    np.testing.assert_array_equal(np.asarray(grad.get_ydata()), (z > 0).astype(float))
    assert ax.get_xlabel().startswith("Pre-activation") and "Activation" in ax.get_ylabel()
    with pytest.raises(ValueError, match="z_range"):
        plots.relu_plot(z_range=(1, 2))


# ------------------------------------------------------------------------- Figure 8


def test_output_bars_heights_are_labels_and_probabilities():
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.55, 0.45]])
    labels = np.array([0, 1, 1])
    fig, axes = plots.output_bars(proba, labels)
    assert len(axes) == 3
    for e, ax in enumerate(axes):
        for c in range(2):
            (lab,) = _by_gid(ax.patches, f"label-{e}-{c}")
            (pred,) = _by_gid(ax.patches, f"pred-{e}-{c}")
            assert lab.get_height() == (1.0 if c == labels[e] else 0.0)
            assert pred.get_height() == pytest.approx(proba[e, c])
        # signal first: the signal bars stand left of the background bars
        assert _by_gid(ax.patches, f"pred-{e}-0")[0].get_x() < _by_gid(ax.patches, f"pred-{e}-1")[0].get_x()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["signal", "background"]
    assert "truth: background" in axes[1].get_title()
    _render(fig)


def test_output_bars_rejects_non_probabilities():
    with pytest.raises(ValueError, match="summing to 1"):
        plots.output_bars([[0.8, 0.8]], [0])
    with pytest.raises(ValueError, match="class_names"):
        plots.output_bars([[0.2, 0.3, 0.5]], [0])


# ------------------------------------------------------------------------- loss surface


@pytest.fixture
def toy_two_features(rng):
    n = 200
    x = np.vstack([rng.normal([0.8, -0.4], 1.0, (n, 2)), rng.normal([-0.8, 0.4], 1.0, (n, 2))])
    y = np.repeat([0, 1], n)
    return x, y


def test_logistic_loss_closed_forms(toy_two_features):
    x, y = toy_two_features
    assert plots.logistic_loss((0, 0), x, y) == pytest.approx(math.log(2))
    w = np.array([0.7, -1.3])
    t = x @ w  # signal logit; y_hat_sig = sigmoid(t)
    closed = np.mean(np.where(y == 0, np.log1p(np.exp(-t)), np.log1p(np.exp(t))))
    assert plots.logistic_loss(w, x, y) == pytest.approx(closed, rel=1e-12)
    onehot = np.eye(2)[y]
    assert plots.logistic_loss(w, x, onehot) == pytest.approx(closed, rel=1e-12)


def test_logistic_gradient_matches_finite_differences_and_autograd(toy_two_features):
    x, y = toy_two_features
    w = np.array([0.4, 0.9])
    grad = plots.logistic_gradient(w, x, y)
    eps = 1e-6
    fd = [(plots.logistic_loss(w + eps * e, x, y) - plots.logistic_loss(w - eps * e, x, y)) / (2 * eps)
          for e in np.eye(2)]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    wt = torch.tensor(w, requires_grad=True)
    logits = torch.stack([torch.from_numpy(x) @ wt, torch.zeros(len(x), dtype=torch.float64)], dim=1)
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(grad, wt.grad.numpy(), rtol=1e-10)


def test_logistic_descent_goes_downhill_to_the_minimum(toy_two_features):
    x, y = toy_two_features
    path = plots.logistic_descent(x, y, (-2.0, 2.0), lr=1.0, steps=200)
    assert path.w.shape == (201, 2) and path.loss.shape == (201,)
    assert np.all(np.diff(path.loss) <= 1e-12)  # small steps never go uphill
    assert np.linalg.norm(plots.logistic_gradient(path.w[-1], x, y)) < 1e-4
    # the minimum agrees with the grid's lowest point, to the grid spacing
    w1 = w2 = np.linspace(-3, 3, 61)
    grid = plots.logistic_loss_grid(x, y, w1, w2)
    j, i = np.unravel_index(grid.argmin(), grid.shape)
    assert abs(w1[i] - path.w[-1, 0]) <= 0.1 and abs(w2[j] - path.w[-1, 1]) <= 0.1
    assert grid.min() >= path.loss[-1] - 1e-12
    # one step is exactly numpy_nn's update rule
    g0 = plots.logistic_gradient(path.w[0], x, y)
    np.testing.assert_allclose(path.w[1], numpy_nn.gradient_descent_step([path.w[0]], [g0], 1.0)[0])


def test_logistic_loss_grid_layout(toy_two_features):
    x, y = toy_two_features
    w1, w2 = np.array([-1.0, 0.0, 1.0]), np.array([2.0, 3.0])
    grid = plots.logistic_loss_grid(x, y, w1, w2)
    assert grid.shape == (2, 3)
    assert grid[1, 0] == pytest.approx(plots.logistic_loss((-1.0, 3.0), x, y))


def test_loss_surface_draws_paths(toy_two_features):
    x, y = toy_two_features
    w1 = w2 = np.linspace(-3, 3, 21)
    grid = plots.logistic_loss_grid(x, y, w1, w2)
    paths = [plots.logistic_descent(x, y, (-2.5, 2.5), lr=lr, steps=10) for lr in (0.5, 3.0)]
    fig, ax = plots.loss_surface(w1, w2, grid, paths=paths)
    assert len(_by_gid(ax.lines, "path-")) == 2
    (p1,) = _by_gid(ax.lines, "path-1")
    np.testing.assert_allclose(p1.get_xdata(), paths[1].w[:, 0])
    assert len(_by_gid(ax.lines, "start-")) == 2 and len(_by_gid(ax.lines, "end-")) == 2
    assert ax.get_xlabel() == "$w_1$" and ax.get_ylabel() == "$w_2$"
    _render(fig)
    with pytest.raises(ValueError, match="loss_grid must have shape"):
        plots.loss_surface(w1, w2, grid.T[:, :-1])


def test_logistic_inputs_are_checked(toy_two_features):
    x, y = toy_two_features
    with pytest.raises(ValueError, match="two weights"):
        plots.logistic_loss((1.0,), x, y)
    with pytest.raises(ValueError, match=r"shape \(M, 2\)"):
        plots.logistic_loss((1.0, 1.0), x[:, :1], y)
    with pytest.raises(ValueError, match="0 = signal"):
        plots.logistic_loss((1.0, 1.0), x, y + 1)
    with pytest.raises(ValueError, match="steps"):
        plots.logistic_descent(x, y, (0.0, 0.0), lr=0.1, steps=0)
