"""Tests of e2e_tutorial.detector, the parametric CMS-like detector (seminar 2.3-2.4).

Truth used here, independent of the module: the ECAL TDR containment numbers, the CMS
resolution formulas, an RK4 integration of the Lorentz force, binomial and Gaussian
statistics, and the bib keys of book/references.bib.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from e2e_tutorial import detector
from e2e_tutorial.coordinates import ECAL_RADIUS_M, ecal_center, ecal_index
from e2e_tutorial.detector import DEFAULT, DetectorParams, DetectorResponse, simulate, simulate_many
from e2e_tutorial.generation import PARTICLE_DTYPE
from e2e_tutorial.images import event_image

B = DEFAULT.b_field_t
R_ECAL = ECAL_RADIUS_M
K = 0.299792458  # GeV / (T m e): p [GeV] = K q B R

QUIET = dataclasses.replace(  # no smearing, no noise, no zero suppression
    DEFAULT, ecal_stochastic=0.0, ecal_constant=0.0, ecal_noise_gev=0.0, ecal_zs_threshold_gev=0.0
)


def make(rows) -> np.ndarray:
    """Particles from (pdg_id, charge, pt, eta, phi, mass[, (vx, vy, vz)]) tuples."""
    out = np.zeros(len(rows), dtype=PARTICLE_DTYPE)
    for i, row in enumerate(rows):
        pdg, q, pt, eta, phi, m = row[:6]
        v = row[6] if len(row) > 6 else (0.0, 0.0, 0.0)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        out[i] = (pdg, q, px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2), *v, 0, 0)
    return out


def rk4_to_radius(x0, p0, q, b_field, radius, step=5e-4):
    """Integrate dp/dl = K q (p x B) / |p|, dx/dl = p / |p| (B along +z) until |x_T| = radius.

    Returns the crossing points (n, 3), linearly interpolated within the last step.
    """
    x = np.array(x0, dtype=float)
    p = np.array(p0, dtype=float)
    q = np.asarray(q, dtype=float)[:, None]
    bvec = np.array([0.0, 0.0, b_field])

    def f(p):
        pn = np.linalg.norm(p, axis=1, keepdims=True)
        return p / pn, K * q * np.cross(p, bvec) / pn

    hit = np.full(x.shape, np.nan)
    for _ in range(200_000):
        done = ~np.isnan(hit[:, 0])
        if done.all():
            return hit
        dx1, dp1 = f(p)
        dx2, dp2 = f(p + 0.5 * step * dp1)
        dx3, dp3 = f(p + 0.5 * step * dp2)
        dx4, dp4 = f(p + step * dp3)
        x_new = x + step / 6 * (dx1 + 2 * dx2 + 2 * dx3 + dx4)
        p_new = p + step / 6 * (dp1 + 2 * dp2 + 2 * dp3 + dp4)
        r_old, r_new = np.hypot(x[:, 0], x[:, 1]), np.hypot(x_new[:, 0], x_new[:, 1])
        cross = ~done & (r_old < radius) & (r_new >= radius)
        t = ((radius - r_old) / (r_new - r_old))[:, None]
        hit[cross] = (x + t * (x_new - x))[cross]
        x, p = x_new, p_new
    raise AssertionError("integration did not reach the radius")


# ---------------------------------------------------------------------------------------------
# Single photon (ECAL resolution, containment, noise)
# ---------------------------------------------------------------------------------------------

PHOTON_E = 50.0
SEED_CRYSTAL = (100, 200)  # eta ~ +0.27


def photon_at_crystal_centre(energy=PHOTON_E, crystal=SEED_CRYSTAL):
    eta, phi = ecal_center(*crystal)
    return make([(22, 0.0, energy / np.cosh(eta), eta, phi, 0.0)])


def test_photon_energy_scale_and_resolution_over_seeds():
    ph = photon_at_crystal_centre()
    e = ph["e"][0]
    n_seeds = 400
    sums = np.empty(n_seeds)
    in_3x3 = np.empty(n_seeds)
    n_hits = np.empty(n_seeds)
    i, j = SEED_CRYSTAL
    for s in range(n_seeds):
        resp = simulate(ph, np.random.default_rng(s))
        img = event_image(resp)
        sums[s] = img[1].sum(dtype=np.float64)
        in_3x3[s] = img[1, i - 1 : i + 2, j - 1 : j + 2].sum(dtype=np.float64) / sums[s]
        n_hits[s] = resp.ecal_energy.size
    # A 50 GeV photon is read out in full (no zero suppression): its 9 x 9 window, 81 crystals.
    assert np.all(n_hits == 81)
    stated = e * np.hypot(0.028 / np.sqrt(e), 0.003)  # 2.8%/sqrt(E) (+) 0.3%
    expected_sigma = np.hypot(stated, 0.040 * np.sqrt(81))  # (+) 40 MeV in each crystal
    assert np.all(np.abs(sums - e) < 3 * expected_sigma + 0.05)
    assert abs(sums.mean() - e) < 3 * expected_sigma / np.sqrt(n_seeds)
    assert sums.std(ddof=1) == pytest.approx(expected_sigma, rel=0.12)
    assert np.all(in_3x3 >= 0.90)


def test_em_containment_matches_ecal_tdr():
    # Photon at a crystal centre: ~80% in it, ~94% in 3x3, ~97% in 5x5 (ECAL TDR).
    img = event_image(simulate(photon_at_crystal_centre(), np.random.default_rng(0), QUIET))
    ecal = img[1].astype(np.float64)
    total = ecal.sum()
    assert total == pytest.approx(PHOTON_E, rel=1e-6)
    i, j = SEED_CRYSTAL
    for half, frac in ((0, 0.80), (1, 0.94), (2, 0.97)):
        window = ecal[i - half : i + half + 1, j - half : j + half + 1].sum()
        assert window / total == pytest.approx(frac, abs=0.01)


def test_moliere_radius_holds_about_90_percent():
    # By definition about 90% of an EM shower lies within one Moliere radius of its axis.
    p = DEFAULT
    rm = p.moliere_radius_m / p.crystal_width_m  # in crystal widths
    # Fraction of the (untruncated) two-Gaussian profile inside a circle of radius R_M.
    inside = sum(
        f * (1 - np.exp(-(rm**2) / (2 * (s * rm) ** 2)))
        for f, s in ((p.em_core_fraction, p.em_core_sigma_rm), (1 - p.em_core_fraction, p.em_tail_sigma_rm))
    )
    assert 0.88 < inside < 0.95
    # The crystal front face at r = 1.29 m is ~22 mm wide, ~0.0174 in eta and phi.
    assert p.crystal_width_m == pytest.approx(0.0225, abs=0.0005)


def test_noise_of_3x3_sum_is_the_012_over_e_term():
    # CMS quotes sigma/E = 2.8%/sqrt(E) (+) 0.12/E (+) 0.3%: 0.12 GeV is the noise of a 3x3 sum
    # of crystals with 40 MeV each, sqrt(9) x 0.040.
    assert DEFAULT.ecal_noise_3x3_gev == pytest.approx(0.12)
    noisy = dataclasses.replace(QUIET, ecal_noise_gev=DEFAULT.ecal_noise_gev)
    ph = photon_at_crystal_centre()
    clean = event_image(simulate(ph, np.random.default_rng(0), QUIET))[1].astype(np.float64)
    i, j = SEED_CRYSTAL
    ref = clean[i - 1 : i + 2, j - 1 : j + 2].sum()
    diffs = [
        event_image(simulate(ph, np.random.default_rng(s), noisy))[1][i - 1 : i + 2, j - 1 : j + 2].sum(
            dtype=np.float64
        ) - ref
        for s in range(400)
    ]
    assert np.std(diffs, ddof=1) == pytest.approx(0.12, rel=0.12)
    assert abs(np.mean(diffs)) < 3 * 0.12 / np.sqrt(400)


def test_zero_suppression_drops_soft_crystals():
    # A 2 GeV photon (below the full-readout ET) keeps only crystals >= 120 MeV (3 sigma noise).
    ph = photon_at_crystal_centre(2.0)
    for s in range(20):
        resp = simulate(ph, np.random.default_rng(s))
        assert np.all(resp.ecal_energy >= DEFAULT.ecal_zs_threshold_gev)
        assert resp.ecal_energy.size < 20


# ---------------------------------------------------------------------------------------------
# Tracks in the 3.8 T field
# ---------------------------------------------------------------------------------------------

PTS = np.array([0.8, 1.5, 5.0, 20.0, 100.0])  # GeV; 0.8 is just above the looper limit


@pytest.mark.parametrize("charge", [+1.0, -1.0])
def test_helix_deflection_matches_lorentz_force_integration(charge):
    eta0, phi0 = 0.4, 0.3
    n = len(PTS)
    p0 = np.stack([PTS * np.cos(phi0), PTS * np.sin(phi0), PTS * np.sinh(eta0)], axis=1)
    hit = rk4_to_radius(np.zeros((n, 3)), p0, np.full(n, charge), B, R_ECAL)
    reaches, x, y, z = detector.propagate_to_radius(
        0.0, 0.0, 0.0, p0[:, 0], p0[:, 1], p0[:, 2], charge, R_ECAL, B
    )
    assert reaches.all()
    np.testing.assert_allclose(np.stack([x, y, z], axis=1), hit, atol=2e-6)
    # ... and the textbook formula with R = pT / (0.3 B): dphi = -q arcsin(r / 2R).
    dphi = np.arctan2(y, x) - phi0
    np.testing.assert_allclose(dphi, -charge * np.arcsin(R_ECAL * K * B / (2 * PTS)), rtol=1e-9)
    np.testing.assert_allclose(
        dphi, -charge * np.arcsin(R_ECAL * 0.3 * B / (2 * PTS)), rtol=2e-3
    )
    # The track lands in the crystal of the integrated impact, with its measured pT.
    parts = make([(211 if charge > 0 else -211, charge, pt, eta0, phi0, 0.13957) for pt in PTS])
    params = dataclasses.replace(
        DEFAULT, track_pt_min_gev=0.5, track_efficiency=1.0, track_res_const=0.0, track_res_slope_per_gev=0.0
    )
    resp = simulate(parts, np.random.default_rng(0), params)
    ie, ip = ecal_index(np.arcsinh(hit[:, 2] / R_ECAL), np.arctan2(hit[:, 1], hit[:, 0]))
    order = np.argsort(resp.track_particle)
    np.testing.assert_array_equal(resp.track_particle[order], np.arange(n))
    np.testing.assert_array_equal(resp.track_ieta[order], ie)
    np.testing.assert_array_equal(resp.track_iphi[order], ip)
    np.testing.assert_allclose(resp.track_pt[order], PTS, rtol=1e-9)


def test_positive_particles_bend_clockwise_and_opposite_charges_oppositely():
    # B along +z: F = q v x B; for v along +x this is -y for q > 0: phi decreases (clockwise).
    _, x, y, _ = detector.propagate_to_radius(0, 0, 0, 2.0, 0.0, 0.0, np.array([1.0, -1.0, 0.0]), R_ECAL, B)
    phi = np.arctan2(y, x)
    assert phi[0] < 0 < phi[1]
    assert phi[0] == pytest.approx(-phi[1])
    assert phi[2] == 0.0


def test_displaced_vertex_matches_integration():
    vertex = np.array([[0.05, -0.03, 0.10], [0.3, 0.2, -0.2], [-0.4, 0.1, 0.0]])
    p0 = np.array([[1.5, 0.4, 0.8], [-0.9, 1.1, 2.0], [3.0, 0.0, -1.0]])
    q = np.array([1.0, -1.0, 1.0])
    hit = rk4_to_radius(vertex, p0, q, B, R_ECAL)
    reaches, x, y, z = detector.propagate_to_radius(*vertex.T, *p0.T, q, R_ECAL, B)
    assert reaches.all()
    np.testing.assert_allclose(np.stack([x, y, z], axis=1), hit, atol=2e-6)


def test_neutral_particles_fly_straight_from_their_vertex():
    v = np.array([0.2, -0.1, 0.3])
    p = np.array([1.0, 2.0, 0.5])
    reaches, x, y, z = detector.propagate_to_radius(*v, *p, 0.0, R_ECAL, B)
    point = np.array([x, y, z])
    assert reaches and np.hypot(x, y) == pytest.approx(R_ECAL)
    t = (point - v) / p  # the same multiple of p in every coordinate
    assert t[0] > 0 and t == pytest.approx(np.full(3, t[0]))


def test_loopers_reach_nothing():
    threshold = 0.3 * B * R_ECAL / 2  # 0.735 GeV: 2R = r
    assert DEFAULT.looper_pt_gev == pytest.approx(threshold, rel=1e-3)
    reaches, *_ = detector.propagate_to_radius(
        0, 0, 0, np.array([0.99, 1.01]) * DEFAULT.looper_pt_gev, 0.0, 0.1, 1.0, R_ECAL, B
    )
    assert reaches.tolist() == [False, True]
    loopers = make([(211, 1.0, 0.7, 0.1, 0.5, 0.13957), (-11, 1.0, 0.5, -0.3, 2.0, 0.000511),
                    (13, -1.0, 0.6, 0.0, -1.0, 0.10566)])
    params = dataclasses.replace(DEFAULT, track_pt_min_gev=0.3, track_efficiency=1.0)
    resp = simulate(loopers, np.random.default_rng(0), params)
    assert resp.track_pt.size == resp.ecal_energy.size == resp.hcal_energy.size == 0
    assert np.all(resp.ecal_true == 0) and np.all(resp.hcal_true == 0)
    assert np.all(np.isnan(resp.impact_eta))


def test_electron_shower_sits_at_its_track():
    e_minus = make([(11, -1.0, 8.0, 0.2, 1.0, 0.000511)])
    params = dataclasses.replace(DEFAULT, track_efficiency=1.0)
    resp = simulate(e_minus, np.random.default_rng(3), params)
    seed = np.argmax(resp.ecal_energy)
    assert (resp.ecal_ieta[seed], resp.ecal_iphi[seed]) == (resp.track_ieta[0], resp.track_iphi[0])
    # A negative particle bends counter-clockwise: phi at the ECAL above 1.0.
    assert resp.impact_phi[0] > 1.0


def test_tracking_efficiency_threshold_and_resolution():
    n = 2000
    rng = np.random.default_rng(11)
    phi = rng.uniform(-np.pi, np.pi, n)
    pions = make([(211, 1.0, 100.0, 0.5, f, 0.13957) for f in phi])
    resp = simulate(pions, np.random.default_rng(1))
    eff = resp.track_pt.size / n
    assert abs(eff - 0.90) < 3 * np.sqrt(0.9 * 0.1 / n)
    rel = resp.track_pt / 100.0 - 1.0
    assert abs(rel.mean()) < 0.002
    assert 0.01 <= rel.std() <= 0.02  # "1-2% at 100 GeV" (CMS)
    # Below the pT threshold (but above the looper limit) nothing is tracked.
    soft = make([(211, 1.0, 0.9, 0.0, f, 0.13957) for f in phi[:200]])
    assert simulate(soft, np.random.default_rng(2)).track_pt.size == 0


# ---------------------------------------------------------------------------------------------
# Muons, hadrons, neutrinos, acceptance
# ---------------------------------------------------------------------------------------------


def test_muon_leaves_mip_in_ecal_and_hcal():
    mu = make([(13, -1.0, 30.0, -0.5, 2.5, 0.10566)])
    resp = simulate(mu, np.random.default_rng(0), QUIET)
    # PDG: dE/dx_min of PbWO4 ~ 1.229 MeV cm2/g x 8.3 g/cm3 = 10.2 MeV/cm over 23 cm.
    assert resp.ecal_energy.tolist() == pytest.approx([0.0102 * 23], rel=0.01)
    assert resp.hcal_energy.tolist() == pytest.approx([2.0])
    assert resp.ecal_true[0] == pytest.approx(0.235, rel=0.01)


def test_charged_hadron_shares_energy_between_ecal_and_hcal():
    n, e = 1000, 50.0
    pions = make([(211, 1.0, e / np.cosh(0.2), 0.2, f, 0.13957) for f in np.linspace(-3, 3, n)])
    resp = simulate(pions, np.random.default_rng(5), QUIET)
    interacted = resp.ecal_true > 1.0
    p_int = 1 - np.exp(-0.23 / 0.2028)  # 23 cm of PbWO4, lambda_I = 20.28 cm (PDG)
    assert abs(interacted.mean() - p_int) < 4 * np.sqrt(p_int * (1 - p_int) / n)
    total_true = resp.ecal_true + resp.hcal_true
    np.testing.assert_allclose(total_true, pions["e"], rtol=1e-12)
    # Visible energy: mean E, spread 100%/sqrt(E) (+) 5% (one pion per event here).
    vis = np.array([
        simulate(pions[k : k + 1], np.random.default_rng(k), QUIET).ecal_energy.sum()
        + simulate(pions[k : k + 1], np.random.default_rng(k), QUIET).hcal_energy.sum()
        for k in range(600)
    ])
    sigma = e * np.hypot(1.0 / np.sqrt(e), 0.05)
    assert abs(vis.mean() - e) < 4 * sigma / np.sqrt(vis.size)
    assert vis.std(ddof=1) == pytest.approx(sigma, rel=0.12)
    assert vis.min() >= 0


def test_neutral_hadrons_leave_no_track_and_mostly_hcal():
    n = 500
    neutrons = make([(2112, 0.0, 20.0, 0.0, f, 0.9396) for f in np.linspace(-3, 3, n)])
    resp = simulate(neutrons, np.random.default_rng(0), QUIET)
    assert resp.track_pt.size == 0
    assert resp.hcal_true.sum() > resp.ecal_true.sum()
    # Those that do not interact in the ECAL leave nothing there (no ionisation).
    assert np.all((resp.ecal_true == 0) | (resp.ecal_true > 1.0))


def test_neutrinos_deposit_nothing():
    nus = make([
        (12, 0.0, 50.0, 0.0, 0.0, 0.0), (-14, 0.0, 30.0, 1.0, 2.0, 0.0), (16, 0.0, 5.0, -0.5, -2.0, 0.0)
    ])
    resp = simulate(nus, np.random.default_rng(0))
    assert resp.track_pt.size == resp.ecal_energy.size == resp.hcal_energy.size == 0
    assert np.all(resp.ecal_true == 0) and np.all(resp.hcal_true == 0)


def test_particles_outside_the_barrel_are_ignored():
    parts = make([
        (22, 0.0, 30.0, 2.0, 0.0, 0.0),          # endcap photon
        (211, 1.0, 10.0, -1.6, 1.0, 0.13957),    # endcap pion
        (2112, 0.0, 40.0, 4.5, 0.0, 0.9396),     # forward neutron
        (22, 0.0, 50.0, 1.40, 0.0, 0.0, (0.0, 0.0, 0.5)),  # enters the barrel at eta > 1.48
    ])
    remnant = np.zeros(3, dtype=PARTICLE_DTYPE)  # beam remnants: pT = 0 (and a particle at rest)
    remnant["pdg_id"] = [2101, 2203, 2112]
    remnant["pz"] = [3000.0, -2500.0, 0.0]
    remnant["e"] = [3000.0, 2500.0, 0.94]
    resp = simulate(np.concatenate([parts, remnant]), np.random.default_rng(0))
    assert resp.track_pt.size == resp.ecal_energy.size == resp.hcal_energy.size == 0
    assert np.all(resp.ecal_true == 0) and np.all(resp.hcal_true == 0)
    # The displaced photon: from z = 0.5 m at eta 1.40 it meets the ECAL face at eta ~ 1.70.
    assert np.isnan(resp.impact_eta[3])


def test_empty_event():
    resp = simulate(np.zeros(0, dtype=PARTICLE_DTYPE), np.random.default_rng(0))
    assert resp.ecal_energy.size == resp.hcal_energy.size == resp.track_pt.size == 0


# ---------------------------------------------------------------------------------------------
# A generated event: reproducibility and bookkeeping
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def higgs_event():
    from e2e_tutorial.generation import generate

    return next(generate("h", 1, seed=12, mpi=True))


def _as_tuple(resp):
    return tuple(getattr(resp, f.name) for f in dataclasses.fields(resp))


def test_same_seed_same_response(higgs_event):
    a = simulate(higgs_event, np.random.default_rng(42))
    b = simulate(higgs_event, np.random.default_rng(42))
    c = simulate(higgs_event, np.random.default_rng(43))
    for x, y in zip(_as_tuple(a), _as_tuple(b)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.ecal_energy, c.ecal_energy) or a.ecal_energy.size != c.ecal_energy.size


def test_true_deposits_account_for_visible_energy(higgs_event):
    exact = dataclasses.replace(QUIET, hadron_stochastic=0.0, hadron_constant=0.0)
    resp = simulate(higgs_event, np.random.default_rng(1), exact)
    ids = np.abs(higgs_event["pdg_id"])
    reached = ~np.isnan(resp.impact_eta)
    # Every particle that reaches a barrel crystal, except neutrinos and muons, deposits its
    # whole energy between ECAL and HCAL; the others deposit nothing.
    visible = reached & ~np.isin(ids, (12, 13, 14, 16))
    assert visible.sum() > 20
    np.testing.assert_allclose((resp.ecal_true + resp.hcal_true)[visible], higgs_event["e"][visible])
    assert np.all(resp.ecal_true[~reached] == 0) and np.all(resp.hcal_true[~reached] == 0)
    # Without smearing and noise the hits hold the true deposits, less the shower tails that
    # leak beyond the barrel edge (only for impacts within 4 crystals = 0.07 of the edge).
    assert resp.hcal_energy.sum() == pytest.approx(resp.hcal_true.sum(), rel=1e-12)
    away = reached & (np.abs(resp.impact_eta) < 1.4835 - 4 * 0.01746)
    assert resp.ecal_true[away].sum() - 1e-9 <= resp.ecal_energy.sum() <= resp.ecal_true.sum() + 1e-9
    # The two Higgs photons are in the event and the ECAL holds most of their energy.
    assert resp.ecal_energy.max() > 5.0


# ---------------------------------------------------------------------------------------------
# Parameters and input checks
# ---------------------------------------------------------------------------------------------


def test_parameter_table_cites_known_sources():
    bib = (Path(__file__).resolve().parents[1] / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    rows = detector.parameter_table()
    assert [r[0] for r in rows] == [f.name for f in dataclasses.fields(DetectorParams)]
    for name, value, unit, source, doc in rows:
        assert source == "choice" or source in keys, (name, source)
        assert doc
    values = {r[0]: r[1] for r in rows}
    assert values["b_field_t"] == 3.8 and values["ecal_noise_gev"] == 0.040


def test_params_are_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.b_field_t = 4.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="ecal_noise_gev"):
        dataclasses.replace(DEFAULT, ecal_noise_gev=-0.01)
    with pytest.raises(ValueError, match="shower_window"):
        dataclasses.replace(DEFAULT, shower_window=4)
    with pytest.raises(ValueError, match="track_efficiency"):
        dataclasses.replace(DEFAULT, track_efficiency=1.2)
    with pytest.raises(ValueError, match="b_field_t"):
        dataclasses.replace(DEFAULT, b_field_t=0.0)


def test_bad_input_raises():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="structured array"):
        simulate(np.zeros((3, 4)), rng)
    with pytest.raises(ValueError, match="vx"):
        simulate(np.zeros(2, dtype=[("pdg_id", "i4"), ("charge", "f4"), ("px", "f8"), ("py", "f8"),
                                    ("pz", "f8"), ("e", "f8")]), rng)
    bad = photon_at_crystal_centre()
    bad["px"] = np.nan
    with pytest.raises(ValueError, match="px"):
        simulate(bad, rng)
    with pytest.raises(ValueError, match="Generator"):
        simulate(photon_at_crystal_centre(), 42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Many events at once
# ---------------------------------------------------------------------------------------------

NO_RANDOMNESS = dataclasses.replace(  # every random number is multiplied by 0 or irrelevant
    DEFAULT, track_efficiency=1.0, track_res_const=0.0, track_res_slope_per_gev=0.0,
    ecal_stochastic=0.0, ecal_constant=0.0, ecal_noise_gev=0.0,
    hadron_stochastic=0.0, hadron_constant=0.0,
)
# The last draw that matters is whether a hadron interacts in the ECAL, u < 1 - exp(-L / lambda_I):
# certain with L / lambda_I = 2300 (exp = 0.0), impossible with 2.3e-17 (exp = 1.0).
ALL_INTERACT = dataclasses.replace(NO_RANDOMNESS, pbwo4_lambda_int_m=1e-4)
NONE_INTERACT = dataclasses.replace(NO_RANDOMNESS, pbwo4_lambda_int_m=1e16)


def assert_same_response(a, b):
    for f in dataclasses.fields(DetectorResponse):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype, f.name
        np.testing.assert_array_equal(x, y, err_msg=f.name)  # NaN equals NaN here


@pytest.fixture(scope="module")
def batch_events(higgs_event):
    from e2e_tutorial.generation import generate

    gg = list(generate("gg", 4, seed=7, mpi=False, prefilter=True))
    # Showers whose windows cross the barrel edge (|eta| up to 1.4835) and the phi seam at +-pi,
    # a MIP and a neutral hadron near both.
    edges = make([
        (22, 0.0, 30.0, 1.475, np.pi - 0.003, 0.0),
        (22, 0.0, 8.0, -1.478, -np.pi + 0.002, 0.0),
        (211, 1.0, 25.0, 1.46, -np.pi + 0.01, 0.13957),
        (13, -1.0, 30.0, -1.40, 3.1, 0.10566),
        (2112, 0.0, 15.0, -1.45, 3.141, 0.9396),
    ])
    empty = np.zeros(0, dtype=PARTICLE_DTYPE)
    return [gg[0], empty, higgs_event, edges, *gg[1:], empty]


@pytest.mark.parametrize(
    "params", [ALL_INTERACT, NONE_INTERACT], ids=["all_interact", "none_interact"]
)
def test_many_events_equal_one_by_one_without_randomness(batch_events, params):
    assert params.ecal_interaction_probability in (0.0, 1.0)
    many = simulate_many(batch_events, np.random.default_rng(1), params)
    assert len(many) == len(batch_events)
    for particles, got in zip(batch_events, many):
        assert_same_response(got, simulate(particles, np.random.default_rng(2), params))
    # The batch holds what it should: empty events, real ones, and windows over the edges.
    assert [r.ecal_true.size for r in many] == [len(p) for p in batch_events]
    assert many[1].ecal_energy.size == many[-1].ecal_energy.size == 0
    assert sum(r.ecal_energy.size for r in many) > 500
    edges = many[3]
    assert {0, 169} <= set(edges.ecal_ieta.tolist()) and {0, 359} <= set(edges.ecal_iphi.tolist())


def test_one_event_batch_is_simulate_bit_for_bit(batch_events):
    for particles in batch_events[:4]:
        for seed in (0, 5):
            rng_many, rng_one = np.random.default_rng(seed), np.random.default_rng(seed)
            (got,) = simulate_many((particles,), rng_many)
            assert_same_response(got, simulate(particles, rng_one))
            assert rng_many.bit_generator.state == rng_one.bit_generator.state  # as many draws


def test_batch_bookkeeping_per_event(batch_events):
    many = simulate_many(batch_events, np.random.default_rng(3), ALL_INTERACT)
    for particles, resp in zip(batch_events, many):
        one = simulate(particles, np.random.default_rng(4), ALL_INTERACT)
        assert resp.ecal_true.sum() == one.ecal_true.sum()
        assert resp.hcal_true.sum() == one.hcal_true.sum()
        assert resp.track_pt.size == one.track_pt.size
        # Every visible particle that reaches the barrel deposits its energy (no smearing here).
        reached = ~np.isnan(resp.impact_eta)
        visible = reached & ~np.isin(np.abs(particles["pdg_id"]), (12, 13, 14, 16))
        total = resp.ecal_true + resp.hcal_true
        np.testing.assert_allclose(total[visible], particles["e"][visible])
        # Tracks name rows of their own event: charged particles, whose pT they measure.
        rows = resp.track_particle
        assert np.all((rows >= 0) & (rows < len(particles)))
        assert np.all(particles["charge"][rows] != 0) and np.all(reached[rows])
        np.testing.assert_allclose(resp.track_pt, np.hypot(particles["px"], particles["py"])[rows])
        # Hits: unique crystals (towers) sorted by (ieta, iphi), each within the 9 x 9 window of
        # an impact of this event (so no hit of another event slipped in).
        assert np.all(np.diff(resp.ecal_ieta * 360 + resp.ecal_iphi) > 0)
        assert np.all(np.diff(resp.hcal_ieta * 72 + resp.hcal_iphi) > 0)
        ie, ip = ecal_index(resp.impact_eta[reached], resp.impact_phi[reached])
        d_eta = np.abs(resp.ecal_ieta[:, None] - np.asarray(ie)[None, :])
        d_phi = np.abs(resp.ecal_iphi[:, None] - np.asarray(ip)[None, :])
        d_phi = np.minimum(d_phi, 360 - d_phi)
        assert np.all(((d_eta <= 4) & (d_phi <= 4)).any(axis=1))


def test_many_events_have_the_photon_resolution():
    # 400 copies of one photon in one call: independent events, each with the resolution of
    # the single-event test above (2.8%/sqrt(E) (+) 0.3% (+) 40 MeV in each of 81 crystals).
    ph = photon_at_crystal_centre()
    e = ph["e"][0]
    many = simulate_many([ph] * 400, np.random.default_rng(8))
    assert all(r.ecal_energy.size == 81 for r in many)
    sums = np.array([r.ecal_energy.sum() for r in many])
    expected_sigma = np.hypot(e * np.hypot(0.028 / np.sqrt(e), 0.003), 0.040 * np.sqrt(81))
    assert abs(sums.mean() - e) < 3 * expected_sigma / np.sqrt(sums.size)
    assert sums.std(ddof=1) == pytest.approx(expected_sigma, rel=0.12)
    assert np.unique(sums).size == sums.size


def test_many_bad_input_names_the_event():
    rng = np.random.default_rng(0)
    good = photon_at_crystal_centre()
    bad_px, bad_vz = good.copy(), good.copy()
    bad_px["px"] = np.nan
    bad_vz["vz"] = np.inf
    with pytest.raises(ValueError, match=r"events\[2\]: particles\['px'\] must be finite"):
        simulate_many([good, good, bad_px, good], rng)
    with pytest.raises(ValueError, match=r"events\[1\]: particles\['vz'\] must be finite"):
        simulate_many([good, bad_vz, bad_px], rng)
    with pytest.raises(ValueError, match=r"events\[1\]: particles must be a numpy structured"):
        simulate_many([good, [1.0, 2.0]], rng)
    with pytest.raises(ValueError, match=r"events\[0\]: particles lack .*vx"):
        simulate_many([np.zeros(1, dtype=[("pdg_id", "i4"), ("charge", "f4"), ("px", "f8"),
                                          ("py", "f8"), ("pz", "f8"), ("e", "f8")])], rng)
    for not_a_sequence in (good, 42, (p for p in [good])):
        with pytest.raises(ValueError, match="sequence"):
            simulate_many(not_a_sequence, rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Generator"):
        simulate_many([good], 42)  # type: ignore[arg-type]
    assert simulate_many([], rng) == []


def test_sum_by_key_matches_unique_and_bincount():
    # The crystal sums: per distinct key, the values added in input order (as np.bincount adds).
    rng = np.random.default_rng(0)
    for scale in (1, 2**58):  # small keys are sorted packed with their position, huge ones not
        keys = rng.integers(-3, 50, 2000) * scale
        values = rng.normal(size=keys.size)
        flags = rng.random(keys.size) < 0.05
        uniq, inverse = np.unique(keys, return_inverse=True)
        got_keys, got_sums, got_flags = detector._sum_by_key(keys, values, flags)
        np.testing.assert_array_equal(got_keys, uniq)
        np.testing.assert_array_equal(got_sums, np.bincount(inverse, weights=values))
        np.testing.assert_array_equal(got_flags, np.bincount(inverse, weights=flags) > 0)


def test_mod_two_pi_is_np_mod():
    two_pi = 2.0 * np.pi
    x = np.concatenate([
        np.random.default_rng(0).uniform(-10, 10, 10_000), np.arange(-3, 4) * two_pi,
        np.nextafter(np.arange(-3, 4) * two_pi, np.inf),
        np.nextafter(np.arange(-3, 4) * two_pi, -np.inf),
        [0.0, -0.0, 1e-300, -1e-300, -5e-324, np.nan, np.inf, -np.inf],
    ])
    with np.errstate(invalid="ignore"):
        want, got = np.mod(x, two_pi), detector._mod_two_pi(x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
