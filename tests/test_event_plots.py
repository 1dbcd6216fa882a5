"""Tests of e2e_tutorial.event_plots: the numbers, figures and event browser of chapter 2.2
(seminar 2.4, Figure 6), on the committed fast-mode samples."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import StepPatch

from e2e_tutorial import config, datasets, detector, event_plots, plots, reconstruction
from e2e_tutorial.event_plots import PROCESS_ORDER

CROP = 16


@pytest.fixture(scope="module")
def dsets():
    return {p: datasets.load_course_dataset(p, "crops", config.FAST, crop_size=CROP) for p in PROCESS_ORDER}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _histograms(ax) -> list[StepPatch]:
    """The per-process histograms of plots.class_histograms (gid "hist-<c>")."""
    return [p for p in ax.patches if isinstance(p, StepPatch) and (p.get_gid() or "").startswith("hist-")]


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def test_markdown_table_layout_and_bad_rows():
    text = event_plots.markdown_table(["a", "b"], [[1, 2], ["x", "y"]])
    lines = text.splitlines()
    assert lines[0] == "| a | b |" and lines[1] == "|---|---:|" and lines[3] == "| x | y |"
    with pytest.raises(ValueError, match="2 cells"):
        event_plots.markdown_table(["a", "b"], [[1]])


def test_production_summary_matches_the_file(dsets):
    for p, ds in dsets.items():
        s = event_plots.production_summary(ds)
        assert s["n_selected"] == len(ds) == ds.attrs["n_events"]
        assert s["n_simulated"] == ds.attrs["n_simulated"] and s["n_tried"] == ds.attrs["n_tried"]
        assert s["n_tried"] >= s["n_accepted"] >= s["n_simulated"] >= s["n_selected"]
        # the stage efficiencies multiply to the overall one
        assert s["stage1"] * s["stage2"] * s["selection"] == pytest.approx(s["overall"])
        assert s["tried_per_selected"] == pytest.approx(1 / s["overall"])
        assert 0 < s["sigma_selected_pb"] < s["sigma_gen_pb"]
    # gg -> H has no stage-1 cut; the 2 -> 2 processes do
    assert event_plots.production_summary(dsets["h"])["stage1"] == 1.0
    assert event_plots.production_summary(dsets["gj"])["stage1"] < 1.0


def test_production_and_size_tables_have_a_row_per_process(dsets):
    for text in (event_plots.production_table(dsets), event_plots.size_table(dsets)):
        lines = text.splitlines()
        assert len(lines) == 2 + len(dsets)
        assert all(plots.class_label(p) in text for p in dsets)


def test_pixel_occupancy_agrees_with_the_dense_images(dsets):
    ds = dsets["gj"]
    occ = event_plots.pixel_occupancy(ds)
    assert occ.shape == (len(ds), 3)
    for i in range(10):
        dense = np.count_nonzero(ds.image(i).reshape(3, -1), axis=1)
        np.testing.assert_array_equal(occ[i], dense)
    assert np.all(occ[:, 2] % 25 == 0)  # HCAL towers are copied into 5 x 5 crystals


def test_bytes_per_event_is_file_size_over_events(dsets):
    ds = dsets["h"]
    assert event_plots.bytes_per_event(ds) == pytest.approx(ds.path.stat().st_size / len(ds))
    assert event_plots.bytes_per_event(ds) < event_plots.DENSE_IMAGE_BYTES / 100


def test_mass_peak_of_a_gaussian_and_its_robustness():
    rng = np.random.default_rng(1)
    m = rng.normal(125.0, 1.5, 200_000)
    median, width = event_plots.mass_peak(m)
    assert median == pytest.approx(125.0, abs=0.02) and width == pytest.approx(1.5, rel=0.02)
    with_tail = np.concatenate([m, np.full(10_000, 50.0)])  # 5 % far outliers
    assert event_plots.mass_peak(with_tail)[1] < 1.7 < np.std(with_tail)
    with pytest.raises(ValueError, match="finite"):
        event_plots.mass_peak(np.array([125.0, np.nan]))


def test_predicted_mass_width_against_a_smearing_experiment():
    """Error propagation checked against a Monte-Carlo: smear both energies with the ECAL
    resolution at a fixed opening angle and measure the spread of the mass."""
    p = detector.DEFAULT
    e1, e2, m = 80.0, 50.0, 125.0
    photons = np.zeros((1, 2), dtype=[("energy", "f8")])
    photons["energy"] = [[e1, e2]]
    predicted = event_plots.predicted_mass_width(photons, np.array([m]))[0]

    def rel(e):
        return np.sqrt((p.ecal_stochastic / np.sqrt(e)) ** 2 + (5 * p.ecal_noise_gev / e) ** 2
                       + p.ecal_constant**2)

    rng = np.random.default_rng(2)
    n = 400_000
    s1 = e1 * (1 + rel(e1) * rng.standard_normal(n))
    s2 = e2 * (1 + rel(e2) * rng.standard_normal(n))
    masses = m * np.sqrt(s1 * s2 / (e1 * e2))  # m^2 = 2 E1 E2 (1 - cos alpha), alpha fixed
    assert predicted == pytest.approx(np.std(masses), rel=0.01)
    with pytest.raises(ValueError):
        event_plots.predicted_mass_width(photons, np.array([m, m]))


def test_predicted_width_matches_the_higgs_sample(dsets):
    ds = dsets["h"]
    _, width = event_plots.mass_peak(ds.mass)
    predicted = np.median(event_plots.predicted_mass_width(ds.photons, ds.mass))
    assert 0.7 < width / predicted < 1.4


def test_mean_crop_is_normalised_to_the_photon_energy(dsets):
    for p in ("h", "gj"):
        for photon in (0, 1):
            mean = event_plots.mean_crop(dsets[p], photon, n_events=50)
            assert mean.shape == (CROP, CROP)
            c = CROP // 2
            assert mean[c - 2 : c + 3, c - 2 : c + 3].sum() == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ValueError, match="photon"):
        event_plots.mean_crop(dsets["h"], 2)
    with pytest.raises(ValueError, match="channel"):
        event_plots.mean_crop(dsets["h"], 0, channel=3)


def test_fake_photons_are_wider_than_higgs_photons(dsets):
    """The physics the chapter shows: the subleading gamma + jet candidate (mostly the jet)
    spreads energy beyond the 5 x 5 window, a Higgs photon hardly."""
    halo = {}
    for p, photon in (("h", 0), ("gj", 1)):
        prof = event_plots.shower_profile(event_plots.mean_crop(dsets[p], photon))
        c = CROP // 2
        halo[p] = prof[: c - 2].sum() + prof[c + 3 :].sum()  # rows outside the 5 x 5
    assert halo["gj"] > 4 * halo["h"]


def test_shower_profile_and_typical_event(dsets):
    crop = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(event_plots.shower_profile(crop), crop.sum(axis=1))
    with pytest.raises(ValueError, match="square"):
        event_plots.shower_profile(np.zeros((3, 4)))
    ds = dsets["gj"]
    i = event_plots.typical_event(ds, 1)
    x = ds.photons[:, 1]["sigma_ieta_ieta"]
    assert abs(x[i] - np.median(x)) == np.min(np.abs(x - np.median(x)))
    with pytest.raises(ValueError, match="field"):
        event_plots.typical_event(ds, 1, field="nonsense")


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def test_plot_event_marks_the_selected_photons(dsets):
    ds = dsets["gg"]
    ax = event_plots.plot_event(ds, 3)
    markers = {line.get_gid(): line for line in ax.lines if (line.get_gid() or "").startswith("photon-")}
    assert sorted(markers) == ["photon-1", "photon-2"]
    for j in range(2):
        x, y = markers[f"photon-{j + 1}"].get_data()
        assert (x[0], y[0]) == pytest.approx((ds.photons[3, j]["phi"], ds.photons[3, j]["eta"]))
    assert "event 3" in ax.get_title() and f"{ds.mass[3]:.1f} GeV" in ax.get_title()
    assert "(rad)" in ax.get_xlabel()


def test_figure6_has_one_panel_per_process_and_one_legend(dsets):
    fig, axes = event_plots.plot_process_events(dsets, index=0)
    assert len(axes) == 3
    for ax, p in zip(axes, PROCESS_ORDER):
        assert ax.get_title().startswith(plots.class_label(p))
        assert ax.get_legend() is None and ax.images  # image drawn, per-panel legend removed
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 3


def test_event_grid_shape(dsets):
    fig, axes = event_plots.plot_event_grid(dsets, [1, 2])
    assert axes.shape == (3, 2)
    for r, p in enumerate(PROCESS_ORDER):
        for c, i in enumerate([1, 2]):
            assert f"event {i}" in axes[r, c].get_title()
            assert sum((l.get_gid() or "").startswith("photon-") for l in axes[r, c].lines) == 2
    with pytest.raises(ValueError):
        event_plots.plot_event_grid(dsets, [])


def test_event_browser_redraws_on_every_change(dsets):
    browser = event_plots.EventBrowser(dsets, 4)
    assert browser.shown == ("h", 0) and browser.event.max == 3
    first = browser.figure.axes[0].get_title()
    browser.event.value = 2
    assert browser.shown == ("h", 2)
    assert "event 2" in browser.figure.axes[0].get_title() != first
    browser.process.value = "gj"
    assert browser.shown == ("gj", 2)
    assert plots.class_label("gj") in browser.figure.axes[0].get_title()
    assert len(browser.figure.axes) == 1  # redrawn, not stacked
    assert event_plots.EventBrowser(dsets, 10_000).event.max == len(dsets["h"]) - 1
    with pytest.raises(ValueError, match="n_events"):
        event_plots.EventBrowser(dsets, 0)


def test_plot_features_five_panels_three_processes(dsets):
    fig, axes = event_plots.plot_features(dsets)
    assert len(axes) == 5
    for ax, name in zip(axes, reconstruction.FEATURE_NAMES):
        assert ax.get_xlabel() == event_plots.FEATURE_LABELS[name]
        hists = _histograms(ax)
        assert len(hists) == 3
        for h in hists:  # each process normalised to its events, overflow in the edge bins
            assert np.sum(h.get_data()[0]) == pytest.approx(1.0)
    legend = fig.axes[5].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [plots.class_label(p) for p in PROCESS_ORDER]


def test_plot_mass_panels(dsets):
    fig, (peak, spectra) = event_plots.plot_mass(dsets)
    assert "GeV" in peak.get_xlabel() and "GeV" in spectra.get_xlabel()
    assert len(_histograms(peak)) == 1 and len(_histograms(spectra)) == 3
    assert spectra.get_yscale() == "log"
    median, _ = event_plots.mass_peak(dsets["h"].mass)
    assert any(np.allclose(line.get_xdata(), median) for line in peak.lines)
    with pytest.raises(ValueError, match="'h'"):
        event_plots.plot_mass({"gg": dsets["gg"]})


def test_plot_shower_shapes_grid(dsets):
    fig, axes = event_plots.plot_shower_shapes(dsets)
    assert axes.shape == (2, 2)
    assert all(len(_histograms(ax)) == 3 for ax in axes.ravel())
    assert "R_9" in axes[0, 0].get_xlabel() and "sigma" in axes[1, 0].get_xlabel()
    assert [ax.get_title() for ax in axes[0]] == ["leading photon", "subleading photon"]


def test_crop_comparison_shares_one_scale_per_channel(dsets):
    crops = [dsets["h"].crops(0)[:3], dsets["gj"].crops(0)[3:]]
    fig, axes = event_plots.plot_crop_comparison(crops, ["a", "b"])
    assert axes.shape == (2, 3)
    for ch in range(3):
        norms = [axes[r, ch].images[0].norm for r in range(2)]
        assert norms[0].vmin == norms[1].vmin and norms[0].vmax == norms[1].vmax
    assert "crystals" in axes[1, 0].get_xlabel()
    with pytest.raises(ValueError, match="title"):
        event_plots.plot_crop_comparison(crops, ["a"])
    with pytest.raises(ValueError, match=r"\(3, s, s\)"):
        event_plots.plot_crop_comparison([np.zeros((6, CROP, CROP))], ["a"])


def test_mean_crop_figures(dsets):
    means = {(p, ph): event_plots.mean_crop(dsets[p], ph, n_events=20) for p in PROCESS_ORDER for ph in (0, 1)}
    fig, axes = event_plots.plot_mean_crops(means)
    assert axes.shape == (2, 3)
    assert axes[1, 2].get_title().startswith(plots.class_label("gj"))
    fig, ax = event_plots.plot_shower_profiles(means)
    assert len(ax.lines) == 6 and ax.get_yscale() == "log"
    with pytest.raises(ValueError):
        event_plots.plot_mean_crops({})
