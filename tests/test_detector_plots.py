"""Tests of e2e_tutorial.detector_plots: the numbers, figures and widget of chapter 2.1.

Numbers are checked against independent truth (closed-form geometry, the `particle` package,
the published resolution formulas); figures against what they claim to draw (how many curves
and markers, where they sit, axis labels with units); the widget by moving its sliders.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from particle import Particle  # noqa: E402

from e2e_tutorial import coordinates, detector, generation, images  # noqa: E402
from e2e_tutorial import detector_plots as dp  # noqa: E402

R_ECAL = detector.DEFAULT.ecal_radius_m
B = detector.DEFAULT.b_field_t


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _by_gid(ax, prefix):
    artists = list(ax.lines) + list(ax.patches) + list(ax.texts) + list(ax.images)
    return [a for a in artists if (a.get_gid() or "").startswith(prefix)]


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def test_species_table_counts_every_particle_with_pdg_names():
    ev = np.zeros(6, dtype=generation.PARTICLE_DTYPE)
    ev["pdg_id"] = [22, 22, 211, -211, 22, 2112]
    rows = dp.species_table(ev)
    assert sum(r.count for r in rows) == len(ev)
    assert [r.pdg_id for r in rows] == [22, -211, 211, 2112]  # by count, then PDG id
    assert rows[0].count == 3
    for r in rows:
        part = Particle.from_pdgid(r.pdg_id)
        assert (r.name, r.latex, r.charge) == (part.name, part.latex_name, part.charge)
    with pytest.raises(ValueError, match="pdg_id"):
        dp.species_table(np.zeros(3))


def test_html_tables_have_one_row_per_entry_and_escape_text():
    ev = np.zeros(4, dtype=generation.PARTICLE_DTYPE)
    ev["pdg_id"] = [22, 211, 211, 130]
    table = dp.species_table_html(ev)
    assert table.count("<tr>") == 1 + 3  # header + three species
    assert "<code>K(L)0</code>" in table and Particle.from_pdgid(211).html_name in table
    params = dp.parameter_table_html()
    assert params.count("<tr>") == 1 + len(detector.parameter_table())
    assert "|eta|" in params and "<td>cms2008</td>" in params
    assert "&lt;" not in dp.species_table_html(ev)  # nothing double-escaped


def test_opening_angle_known_geometry_and_pi0_minimum():
    a = np.zeros(3, dtype=generation.PARTICLE_DTYPE)
    a["px"], a["py"], a["pz"] = [1, 0, 0], [0, 1, 0], [0, 0, -2]
    assert np.isclose(dp.opening_angle(a[0], a[1]), np.pi / 2)
    assert np.isclose(dp.opening_angle(a[0], a[0]), 0.0)
    assert np.isclose(dp.opening_angle(a[0], a[2]), np.pi / 2)
    # pi0 -> gamma gamma: sin(theta_min / 2) = m / E, reached for a symmetric decay
    energy = 40.0
    events = generation.particle_gun(111, energy, 0.1, 0.2, n=200, seed=3)
    angles = np.array([dp.opening_angle(e[0], e[1]) for e in events])
    theta_min = 2 * np.arcsin(generation.mass_of(111) / energy)
    assert angles.min() >= theta_min * (1 - 1e-9)
    assert angles.min() < theta_min * 1.05


@pytest.mark.parametrize(
    "eta, grid, cms, tracker",
    [(0.0, True, True, True), (1.478, True, True, True), (1.481, True, False, True),
     (-1.4835, True, False, True), (1.49, False, False, True), (-2.49, False, False, True),
     (2.51, False, False, False), (np.inf, False, False, False)],
)
def test_acceptance_edges(eta, grid, cms, tracker):
    acc = dp.acceptance(eta)
    assert (bool(acc.ecal_grid), bool(acc.cms_barrel), bool(acc.tracker)) == (grid, cms, tracker)


def test_acceptance_arrays_and_nan():
    acc = dp.acceptance([0.0, 2.0, 3.0])
    assert acc.tracker.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="NaN"):
        dp.acceptance(np.nan)


def test_deflection_matches_closed_form_and_is_antisymmetric():
    pt = np.array([0.8, 1.0, 3.0, 10.0, 100.0])
    radius = pt / (detector.C_LIGHT_GEV_PER_T_M * B)
    expected = -np.arcsin(R_ECAL / (2 * radius))  # positive charges turn clockwise
    assert np.allclose(dp.deflection(pt, 1), expected, rtol=1e-9)
    assert np.allclose(dp.deflection(pt, -1), -expected, rtol=1e-9)
    assert np.isnan(dp.deflection(0.7, 1))  # below the 0.735 GeV looper threshold
    with pytest.raises(ValueError, match="pt"):
        dp.deflection(-1.0, 1)


def test_one_crystal_pt_is_where_the_deflection_equals_a_crystal():
    pt = dp.one_crystal_pt()
    assert 40 < pt < 45
    assert np.isclose(abs(dp.deflection(pt, 1)), coordinates.CRYSTAL_DPHI)


@pytest.mark.parametrize("pt, phi0, q", [(1.0, 0.3, 1), (2.5, -2.0, -1), (30.0, 3.0, 1), (5.0, 1.0, 0)])
def test_trajectory_ends_at_the_detector_impact_point(pt, phi0, q):
    x, y = dp.transverse_trajectory(pt, phi0, q)
    px, py = pt * np.cos(phi0), pt * np.sin(phi0)
    reaches, xi, yi, _ = detector.propagate_to_radius(0, 0, 0, px, py, 0, q, R_ECAL, B)
    assert reaches
    assert np.isclose(x[-1], xi, atol=1e-9) and np.isclose(y[-1], yi, atol=1e-9)
    assert (x[0], y[0]) == (0.0, 0.0)
    assert np.all(np.hypot(x, y) <= R_ECAL + 1e-9)
    if q != 0:  # the circle through the first, middle and last points has radius R
        radius = float(detector.bending_radius(pt, q, B))
        a, b, c = (np.array([x[i], y[i]]) for i in (0, len(x) // 2, -1))
        ab, bc, ca = np.linalg.norm(a - b), np.linalg.norm(b - c), np.linalg.norm(c - a)
        area = 0.5 * abs((b - a)[0] * (c - a)[1] - (b - a)[1] * (c - a)[0])
        assert np.isclose(ab * bc * ca / (4 * area), radius, rtol=1e-6)
        # and it turns the right way: clockwise (negative cross product) for positive charges
        turn = (b - a)[0] * (c - b)[1] - (b - a)[1] * (c - b)[0]
        assert np.sign(turn) == -np.sign(q)


def test_looper_trajectory_is_a_full_circle_of_diameter_2r():
    pt = 0.5
    x, y = dp.transverse_trajectory(pt, 0.0, 1)
    radius = float(detector.bending_radius(pt, 1, B))
    assert np.isclose(np.hypot(x, y).max(), 2 * radius, rtol=1e-3)
    assert np.isclose(x[-1], 0.0, atol=1e-9) and np.isclose(y[-1], 0.0, atol=1e-9)


def test_resolution_formulas_against_hand_values():
    # 2.8%/sqrt(50) (+) 0.12/50 (+) 0.3% = 0.552%
    assert np.isclose(dp.ecal_resolution(50.0), np.sqrt(0.028**2 / 50 + (0.12 / 50) ** 2 + 0.003**2))
    assert np.isclose(dp.ecal_resolution(50.0), 0.00552, atol=1e-5)
    assert np.isclose(dp.hadron_resolution(100.0), np.hypot(0.1, 0.05))
    res = dp.ecal_resolution(np.array([5.0, 50.0, 500.0]))
    assert np.all(np.diff(res) < 0)
    with pytest.raises(ValueError, match="energy"):
        dp.ecal_resolution(0.0)


def test_shoot_photons_at_crystal_centres_reproduce_the_tdr_containment():
    rng = np.random.default_rng(0)
    n = 40
    eta, phi = coordinates.ecal_center(rng.integers(10, 160, n), rng.integers(0, 360, n))
    gun = dp.shoot(22, 50.0, eta, phi, n=n, seed=5)
    assert gun.dtype == dp.GUN_DTYPE and len(gun) == n
    assert np.all(gun["n_candidates"] == 1) and np.all(gun["n_tracks"] == 0)
    assert np.all(gun["hcal_sum"] == 0)
    frac = dp.containment(gun)
    for k, tdr in dp.ECAL_TDR_CONTAINMENT.items():
        assert abs(frac[k].mean() - tdr) < 0.01, (k, frac[k].mean())
    assert np.isclose(gun["ecal_sum"].mean(), 50.0, rtol=0.01)


def test_shoot_muons_and_pions():
    muons = dp.shoot(13, 50.0, 0.1, 0.2, n=10, seed=1)
    assert np.allclose(muons["ecal_sum"], detector.DEFAULT.ecal_mip_gev, atol=0.2)
    assert np.allclose(muons["hcal_sum"], detector.DEFAULT.muon_hcal_gev)
    assert np.all(muons["n_candidates"] == 0) and np.all(np.isnan(muons["e3x3"]))
    ecal, hcal, unseen = dp.energy_sharing(muons)
    assert unseen > 0.9 and np.isclose(hcal, 2.0 / 50.0)
    pions = dp.shoot(211, 50.0, 0.1, 0.2, n=30, seed=2)
    assert np.all(pions["hcal_sum"] > 0)
    assert np.all(pions["n_tracks"] <= 1) and pions["n_tracks"].sum() > 15
    with pytest.raises(ValueError, match="n must be"):
        dp.shoot(22, 50.0, 0.0, 0.0, n=0, seed=1)


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def test_eta_theta_figure_marks_the_edges_on_the_curve():
    ax = dp.plot_eta_theta()
    (curve,) = _by_gid(ax, "curve")
    theta, eta = curve.get_data()
    assert np.allclose(eta, coordinates.theta_to_eta(theta))
    expected = {"perpendicular": 0.0, "barrel": 1.479, "grid": coordinates.ECAL_ETA_MAX, "tracker": 2.5}
    markers = {m.get_gid()[len("marker-"):]: m for m in _by_gid(ax, "marker-")}
    assert set(markers) == set(expected)
    for name, eta_mark in expected.items():
        (t,), (e,) = markers[name].get_data()
        assert np.isclose(e, eta_mark) and np.isclose(t, coordinates.eta_to_theta(eta_mark))
    assert "(rad)" in ax.get_xlabel() and "eta" in ax.get_ylabel()
    assert len(_by_gid(ax, "band-barrel")) == 1 and len(_by_gid(ax, "band-tracker")) == 2


def test_directions_one_line_per_direction_coloured_by_acceptance():
    etas, phis = [0.0, 1.0, 2.0, 3.0], [0.5, -1.0, 2.0, -2.5]
    ax_xy, ax_rz = dp.plot_directions(etas, phis)
    for ax in (ax_xy, ax_rz):
        lines = _by_gid(ax, "direction-")
        assert len(lines) == len(etas)
        assert "(m)" in ax.get_xlabel() and "(m)" in ax.get_ylabel()
    colours = [to_hex(line.get_color()) for line in _by_gid(ax_rz, "direction-")]
    assert colours[0] == colours[1] != colours[2] != colours[3]  # barrel, barrel, tracker, outside
    # barrel directions end on the ECAL face: rho = r, z = r sinh(eta); phi in the x-y view
    for i in (0, 1):
        (x0, x1), (y0, y1) = _by_gid(ax_xy, f"direction-{i}")[0].get_data()
        assert np.isclose(np.hypot(x1, y1), R_ECAL) and np.isclose(np.arctan2(y1, x1), phis[i])
        (z0, z1), (r0, r1) = _by_gid(ax_rz, f"direction-{i}")[0].get_data()
        assert np.isclose(z1, R_ECAL * np.sinh(etas[i])) and np.isclose(abs(r1), R_ECAL)
    # the y-sign of the rho-z view follows sin(phi)
    (_, _), (_, r_last) = _by_gid(ax_rz, "direction-3")[0].get_data()
    assert r_last < 0
    with pytest.raises(ValueError, match="finite"):
        dp.plot_directions([np.nan], [0.0])


def test_eta_distribution_normalised_per_event():
    events = [generation.particle_gun(22, 50.0, eta, 0.0)[0] for eta in (-0.5, 0.2, 0.3)]
    bins = np.linspace(-1, 1, 9)
    ax = dp.plot_eta_distribution(events, bins=bins)
    hists = {a.get_gid(): a for a in ax.patches if (a.get_gid() or "").startswith("hist-")}
    assert set(hists) == {"hist-charged", "hist-neutral", "hist-hard"}
    neutral = hists["hist-neutral"].get_data().values
    assert np.isclose((neutral * np.diff(bins)).sum(), 1.0)  # one photon per event
    assert np.allclose(hists["hist-charged"].get_data().values, 0)
    assert "eta" in ax.get_xlabel()


def test_tracks_figure_draws_every_track_and_impacts():
    pts = [0.5, 1.0, 5.0]
    ax = dp.plot_tracks(pts)
    tracks = _by_gid(ax, "track-")
    assert len(tracks) == 2 * len(pts)
    assert sorted(t.get_linestyle() for t in tracks) == ["-"] * 3 + ["--"] * 3
    impacts = _by_gid(ax, "impact")
    assert len(impacts) == 4  # the 0.5 GeV pair are loopers
    for m in impacts:
        (x,), (y,) = m.get_data()
        assert np.isclose(np.hypot(x, y), R_ECAL)
    assert ax.get_xlabel() == "x (m)" and ax.get_ylabel() == "y (m)"


def test_deflection_figure():
    ax = dp.plot_deflection()
    plus, minus = _by_gid(ax, "deflection-plus"), _by_gid(ax, "deflection-minus")
    assert len(plus) == len(minus) == 1
    pt, dphi = plus[0].get_data()
    assert np.all(dphi < 0) and np.allclose(minus[0].get_data()[1], -dphi)
    (looper,) = _by_gid(ax, "looper")
    assert np.isclose(looper.get_xdata()[0], detector.looper_pt_threshold(B, R_ECAL))
    (one,) = _by_gid(ax, "one-crystal-pt")
    assert np.isclose(one.get_xdata()[0], dp.one_crystal_pt())
    assert "(GeV)" in ax.get_xlabel() and "(rad)" in ax.get_ylabel()


def test_crystal_zoom_labels_every_crystal_with_its_energy():
    ev = generation.particle_gun(22, 50.0, 0.3, 0.5)[0]
    img = images.event_image(detector.simulate(ev, np.random.default_rng(1)))
    ieta, iphi = coordinates.ecal_index(0.3, 0.5)
    ax = dp.plot_crystals(img, int(ieta), int(iphi), size=7)
    labels = _by_gid(ax, "crystal-label")
    assert len(labels) == 49
    window = images.crop(img, int(ieta), int(iphi), size=7)[1]
    values = np.array([float(t.get_text()) for t in labels]).reshape(7, 7)
    assert np.allclose(values, window, atol=0.006)
    (picture,) = _by_gid(ax, "crystals")
    assert np.allclose(picture.get_array().data, window)
    assert "crystals" in ax.get_xlabel()


def test_containment_figure_plots_means_and_tdr():
    rng = np.random.default_rng(2)
    eta, phi = coordinates.ecal_center(rng.integers(10, 160, 20), rng.integers(0, 360, 20))
    centred = dp.shoot(22, 50.0, eta, phi, n=20, seed=3)
    spread = dp.shoot(22, 50.0, rng.uniform(-1.3, 1.3, 20), rng.uniform(-3, 3, 20), n=20, seed=4)
    ax = dp.plot_containment(centred, spread)
    (tdr,) = _by_gid(ax, "containment-tdr")
    assert np.allclose(tdr.get_ydata(), [0.80, 0.94, 0.97])
    (line,) = _by_gid(ax, "containment-centred")
    frac = dp.containment(centred)
    assert np.allclose(line.get_ydata(), [frac[k].mean() for k in (1, 3, 5)])
    assert len(_by_gid(ax, "containment-spread")) == 1


def test_resolution_figure():
    energies = [10.0, 50.0]
    ax = dp.plot_resolution(energies, [0.016, 0.0055], [0.001, 0.0004])
    (formula,) = _by_gid(ax, "formula")
    e, y = formula.get_data()
    assert np.allclose(y, 100 * dp.ecal_resolution(e))
    assert len(_by_gid(ax, "term-")) == 3
    (measured,) = _by_gid(ax, "measured")
    assert np.allclose(measured.get_ydata(), [1.6, 0.55])
    assert "(GeV)" in ax.get_xlabel() and "(%)" in ax.get_ylabel()


def test_histograms_one_per_sample_with_unit_area():
    bins = np.linspace(0, 1, 11)
    ax = dp.plot_histograms({"a": [0.1, 0.2, np.nan], "b": [0.5, 0.55, 0.9, 0.95]}, bins,
                            xlabel="x (GeV)")
    hists = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("hist-")}
    assert set(hists) == {"hist-a", "hist-b"}
    for h in hists.values():
        assert np.isclose((h.get_data().values * np.diff(bins)).sum(), 1.0)
    assert ax.get_xlabel() == "x (GeV)"


def test_energy_sharing_bars_and_track_column():
    shares = {"photon": (1.0, 0.0, 0.0), "muon": (0.005, 0.04, 0.955)}
    ax = dp.plot_energy_sharing(shares, tracked={"photon": 0.0, "muon": 1.0})
    for label, fracs in shares.items():
        for key, value in zip(("ecal", "hcal", "unseen"), fracs):
            (bar,) = _by_gid(ax, f"bar-{label}-{key}")
            assert np.isclose(bar.get_width(), value)
    (muon_track,) = _by_gid(ax, "track-muon")
    assert muon_track.get_text() == "100%"
    assert "fraction" in ax.get_xlabel()


# ---------------------------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------------------------


def test_coordinate_explorer_updates_what_it_shows():
    ex = dp.CoordinateExplorer(eta=0.8, phi=0.6)
    assert np.isclose(ex.values["theta"], coordinates.eta_to_theta(0.8))
    assert ex.values["ecal_grid"] and ex.values["tracker"]
    assert ex.values["crystal"] == tuple(int(i) for i in coordinates.ecal_index(0.8, 0.6))
    first_picture = bytes(ex.picture.value)
    assert first_picture.startswith(b"\x89PNG")

    ex.eta_slider.value = 2.0  # the slider's callback must refresh everything
    theta = float(coordinates.eta_to_theta(2.0))
    assert np.isclose(ex.values["theta"], theta)
    assert not ex.values["ecal_grid"] and ex.values["tracker"] and ex.values["crystal"] is None
    assert f"{theta:.3f} rad" in ex.readout.value
    assert "endcap" in ex.readout.value
    assert bytes(ex.picture.value) != first_picture

    ex.phi_slider.value = -1.0
    assert ex.values["phi"] == -1.0 and "φ = -1.00 rad" in ex.readout.value

    ex.eta_slider.value = 2.8
    assert not ex.values["tracker"]
    assert ex.readout.value.count(">no<") == 3
