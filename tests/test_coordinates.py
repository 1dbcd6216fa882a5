"""Tests of e2e_tutorial.coordinates against truths computed independently of its formulas:
geometry (atan2 of a point), textbook angles, the `vector` package, and the grid's own edges."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import vector

from e2e_tutorial import coordinates as co

RNG_SEED = 20210501
N_VEC = 5000


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


@pytest.fixture(scope="module")
def four_vectors(rng):
    """Random massive four-vectors (GeV), as numpy columns and as a vector array."""
    px, py, pz = rng.normal(0.0, 50.0, size=(3, N_VEC))
    m = rng.uniform(0.0, 30.0, size=N_VEC)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return px, py, pz, e, vector.array({"px": px, "py": py, "pz": pz, "E": e})


# --------------------------------------------------------------------------- eta <-> theta


def _theta_geometry(eta: float) -> float:
    """Polar angle of the point at distance rho = 2 from the beam and z = 2 sinh(eta)."""
    return math.atan2(2.0, math.exp(eta) - math.exp(-eta))


@pytest.mark.parametrize(
    "eta, theta_deg",
    [(0.0, 90.0), (1.0, 40.40), (1.479, 25.67), (2.5, 9.39), (-1.0, 139.60), (-2.5, 170.61)],
)
def test_eta_theta_known_points(eta, theta_deg):
    ref = _theta_geometry(eta)
    assert math.degrees(ref) == pytest.approx(theta_deg, abs=0.006)
    assert co.eta_to_theta(eta) == pytest.approx(ref, rel=1e-14, abs=1e-15)
    assert co.theta_to_eta(ref) == pytest.approx(eta, rel=1e-12, abs=1e-15)
    # third, unrelated identity: cos(theta) = tanh(eta)
    assert math.cos(co.eta_to_theta(eta)) == pytest.approx(math.tanh(eta), abs=1e-14)


def test_theta_half_pi_is_eta_zero():
    assert co.theta_to_eta(np.pi / 2) == pytest.approx(0.0, abs=1e-15)
    assert co.eta_to_theta(0.0) == np.pi / 2


def test_eta_theta_round_trips(rng):
    theta = rng.uniform(1e-6, np.pi - 1e-6, size=20_000)
    np.testing.assert_allclose(co.eta_to_theta(co.theta_to_eta(theta)), theta, rtol=1e-12)
    eta = rng.uniform(-10.0, 10.0, size=20_000)
    np.testing.assert_allclose(co.theta_to_eta(co.eta_to_theta(eta)), eta, rtol=0, atol=1e-9)
    out = co.eta_to_theta(eta)
    assert out.shape == eta.shape and np.all((out > 0) & (out < np.pi))


def test_theta_to_eta_is_odd_about_half_pi(rng):
    theta = rng.uniform(0.01, np.pi / 2, size=1000)
    np.testing.assert_allclose(co.theta_to_eta(np.pi - theta), -co.theta_to_eta(theta), atol=1e-12)


# --------------------------------------------------------------------------- against `vector`


def test_pt_eta_phi_matches_vector(four_vectors):
    px, py, pz, _, v = four_vectors
    pt, eta, phi = co.pt_eta_phi(px, py, pz)
    np.testing.assert_allclose(pt, v.pt, rtol=1e-13)
    np.testing.assert_allclose(eta, v.eta, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(phi, v.phi, rtol=1e-13, atol=1e-15)
    assert np.all((phi >= -np.pi) & (phi < np.pi))


def test_rapidity_matches_vector(four_vectors):
    _, _, pz, e, v = four_vectors
    np.testing.assert_allclose(co.rapidity(e, pz), v.rapidity, rtol=1e-10, atol=1e-12)


def test_delta_phi_and_delta_r_match_vector(four_vectors, rng):
    px, py, pz, e, v = four_vectors
    perm = rng.permutation(N_VEC)
    w = v[perm]
    _, eta1, phi1 = co.pt_eta_phi(px, py, pz)
    eta2, phi2 = eta1[perm], phi1[perm]
    dphi = co.delta_phi(phi1, phi2)
    assert np.all((dphi >= -np.pi) & (dphi < np.pi))
    # compare modulo 2 pi, so that a difference at the +-pi seam cannot make the test flaky
    np.testing.assert_allclose(np.angle(np.exp(1j * (dphi - v.deltaphi(w)))), 0.0, atol=1e-12)
    np.testing.assert_allclose(co.delta_r(eta1, phi1, eta2, phi2), v.deltaR(w), rtol=1e-11)


def test_pxpypz_matches_vector_and_round_trips(rng):
    pt = rng.uniform(0.1, 200.0, size=N_VEC)
    eta = rng.uniform(-5.0, 5.0, size=N_VEC)
    phi = rng.uniform(-np.pi, np.pi, size=N_VEC)
    px, py, pz = co.pxpypz(pt, eta, phi)
    v = vector.array({"pt": pt, "eta": eta, "phi": phi})
    np.testing.assert_allclose(px, v.px, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(py, v.py, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pz, v.pz, rtol=1e-12, atol=1e-12)
    pt2, eta2, phi2 = co.pt_eta_phi(px, py, pz)
    np.testing.assert_allclose(pt2, pt, rtol=1e-12)
    np.testing.assert_allclose(eta2, eta, atol=1e-10)
    np.testing.assert_allclose(phi2, phi, atol=1e-12)


def test_pxpypz_accepts_any_turn_and_zero_pt():
    a = co.pxpypz(10.0, 0.5, 0.3)
    b = co.pxpypz(10.0, 0.5, 0.3 + 4 * np.pi)
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert co.pxpypz(0.0, 1.0, 1.0) == (0.0, 0.0, 0.0)


def test_scalars_and_broadcasting():
    assert np.ndim(co.theta_to_eta(1.0)) == 0
    assert all(np.ndim(x) == 0 for x in co.pt_eta_phi(1.0, 2.0, 3.0))
    ieta, iphi = co.ecal_index(0.0, np.zeros((2, 3)))
    assert ieta.shape == iphi.shape == (2, 3) and ieta.dtype.kind == "i"
    pt, eta, phi = co.pt_eta_phi(np.ones((4, 1)), np.ones((1, 5)), 2.0)
    assert pt.shape == eta.shape == phi.shape == (4, 5)


# --------------------------------------------------------------------------- phi wrapping


def test_wrap_phi_boundaries():
    assert co.wrap_phi(np.pi) == -np.pi
    assert co.wrap_phi(-np.pi) == -np.pi
    assert co.wrap_phi(3 * np.pi) == -np.pi
    assert co.wrap_phi(2 * np.pi) == 0.0
    assert co.wrap_phi(np.nextafter(np.pi, 0)) == np.nextafter(np.pi, 0)
    # just below -pi: mod can round up to exactly 2 pi; the result must still be < pi
    w = co.wrap_phi(np.nextafter(-np.pi, -4.0))
    assert -np.pi <= w < np.pi


def test_wrap_phi_random(rng):
    phi = rng.uniform(-50.0, 50.0, size=10_000)
    w = co.wrap_phi(phi)
    assert np.all((w >= -np.pi) & (w < np.pi))
    np.testing.assert_allclose(np.cos(w), np.cos(phi), atol=1e-12)
    np.testing.assert_allclose(np.sin(w), np.sin(phi), atol=1e-12)
    inside = rng.uniform(-np.pi, np.pi, size=1000)
    assert np.array_equal(co.wrap_phi(inside), inside)  # in-range values unchanged, bit for bit


def test_delta_phi_and_delta_r_across_the_seam():
    a, b = np.pi - 0.01, -np.pi + 0.01
    assert co.delta_phi(a, b) == pytest.approx(-0.02, abs=1e-12)
    assert co.delta_phi(b, a) == pytest.approx(0.02, abs=1e-12)
    assert co.delta_r(0.3, a, 0.3, b) == pytest.approx(0.02, abs=1e-12)
    assert co.delta_r(0.3, a, 0.3, b) == co.delta_r(0.3, b, 0.3, a)
    assert co.delta_r(0.0, 0.0, 0.3, 0.4) == pytest.approx(0.5)
    # opposite in phi: delta_phi is -pi both ways, delta_r is pi both ways
    assert co.delta_phi(np.pi / 2, -np.pi / 2) == -np.pi == co.delta_phi(-np.pi / 2, np.pi / 2)
    assert co.delta_r(0.0, 0.0, 0.0, np.pi) == pytest.approx(np.pi)


def test_delta_r_symmetric(rng):
    e1, e2 = rng.uniform(-3, 3, size=(2, 5000))
    p1, p2 = rng.uniform(-10, 10, size=(2, 5000))
    np.testing.assert_array_equal(co.delta_r(e1, p1, e2, p2), co.delta_r(e2, p2, e1, p1))
    assert np.all(co.delta_r(e1, p1, e2, p2) <= np.hypot(6, np.pi) + 1e-12)
    dphi = co.delta_phi(p1, p2)
    np.testing.assert_array_equal(dphi, -co.delta_phi(p2, p1))  # antisymmetric, exactly
    np.testing.assert_allclose(np.cos(dphi), np.cos(p1 - p2), atol=1e-12)
    np.testing.assert_allclose(np.sin(dphi), np.sin(p1 - p2), atol=1e-12)


# --------------------------------------------------------------------------- rapidity, beam axis


def test_rapidity_simple_values():
    assert co.rapidity(5.0, 0.0) == 0.0
    # E = 5, pz = 3: y = 1/2 ln(8/2) = ln 2
    assert co.rapidity(5.0, 3.0) == pytest.approx(math.log(2.0))
    assert co.rapidity(5.0, -3.0) == pytest.approx(-math.log(2.0))


def test_rapidity_equals_eta_for_massless(rng):
    px, py, pz = rng.normal(0, 30, size=(3, 1000))
    e = np.sqrt(px**2 + py**2 + pz**2)
    np.testing.assert_allclose(co.rapidity(e, pz), co.pt_eta_phi(px, py, pz)[1], atol=1e-9)


def test_along_beam_handling():
    with pytest.raises(ValueError, match=r"pz=-3\.0 at index 1 \(1 of 3 values out of range\)"):
        co.pt_eta_phi([1.0, 0.0, 2.0], [0.0, 0.0, 1.0], [1.0, -3.0, 0.0])
    pt, eta, phi = co.pt_eta_phi([1.0, 0.0, 0.0], [0.0, 0.0, -0.0], [1.0, -3.0, 2.0],
                                 along_beam="inf")
    assert list(pt) == [1.0, 0.0, 0.0]
    assert eta[1] == -np.inf and eta[2] == np.inf and np.isfinite(eta[0])
    assert phi[1] == 0.0 and phi[2] == 0.0
    assert list(co.in_ecal_barrel(eta)) == [True, False, False]
    with pytest.raises(ValueError, match="null vector"):
        co.pt_eta_phi(0.0, 0.0, 0.0, along_beam="inf")
    with pytest.raises(ValueError, match=r"E=5\.0, pz=5\.0.*along_beam='inf'"):
        co.rapidity(5.0, 5.0)
    assert co.rapidity([5.0, 5.0], [5.0, -5.0], along_beam="inf").tolist() == [np.inf, -np.inf]
    with pytest.raises(ValueError, match=r"E must be >= \|pz\|.*E=4\.0, pz=-5\.0"):
        co.rapidity(4.0, -5.0, along_beam="inf")
    with pytest.raises(ValueError, match="E must be > 0"):
        co.rapidity(0.0, 0.0, along_beam="inf")
    with pytest.raises(ValueError, match="along_beam must be 'raise' or 'inf'; got 'nan'"):
        co.pt_eta_phi(1.0, 1.0, 1.0, along_beam="nan")


# --------------------------------------------------------------------------- the ECAL grid


def test_grid_constants():
    assert (co.ECAL_N_ETA, co.ECAL_N_PHI) == (170, 360)
    assert (co.HCAL_TOWER_SIZE, co.HCAL_N_ETA, co.HCAL_N_PHI) == (5, 34, 72)
    assert co.CRYSTAL_DETA == co.CRYSTAL_DPHI == pytest.approx(math.radians(1.0))
    assert co.CRYSTAL_DPHI == pytest.approx(0.017453, abs=1e-6)
    assert co.ECAL_ETA_MAX == pytest.approx(1.48353, abs=1e-5)
    assert co.ECAL_ETA_MAX - co.CMS_ECAL_BARREL_ETA_MAX == pytest.approx(0.0045, abs=1e-4)
    assert co.ECAL_RADIUS_M == 1.29
    assert co.ECAL_N_ETA * co.ECAL_N_PHI == 61_200
    assert 5 * co.CRYSTAL_DETA == pytest.approx(0.087, abs=5e-4)  # CMS HCAL tower size
    for edges, n in [(co.ECAL_ETA_EDGES, 171), (co.ECAL_PHI_EDGES, 361),
                     (co.HCAL_ETA_EDGES, 35), (co.HCAL_PHI_EDGES, 73)]:
        assert edges.shape == (n,) and not edges.flags.writeable
        np.testing.assert_allclose(np.diff(edges), np.diff(edges)[0], rtol=1e-9)
    assert co.ECAL_ETA_EDGES[0] == -co.ECAL_ETA_MAX and co.ECAL_ETA_EDGES[-1] == co.ECAL_ETA_MAX
    assert co.ECAL_ETA_EDGES[85] == 0.0
    np.testing.assert_array_equal(co.ECAL_ETA_EDGES, -co.ECAL_ETA_EDGES[::-1])
    assert co.ECAL_PHI_EDGES[0] == -np.pi and co.ECAL_PHI_EDGES[-1] == np.pi
    np.testing.assert_array_equal(co.HCAL_ETA_EDGES, co.ECAL_ETA_EDGES[::5])
    np.testing.assert_array_equal(co.HCAL_PHI_EDGES, co.ECAL_PHI_EDGES[::5])


def _all_crystals():
    return np.meshgrid(np.arange(170), np.arange(360), indexing="ij")


def test_every_crystal_centre_maps_back_to_itself():
    ii, jj = _all_crystals()
    eta, phi = co.ecal_center(ii, jj)
    assert eta.shape == (170, 360)
    ieta, iphi = co.ecal_index(eta, phi)
    np.testing.assert_array_equal(ieta, ii)
    np.testing.assert_array_equal(iphi, jj)
    # and the centres are where a plain formula puts them
    np.testing.assert_allclose(eta, -co.ECAL_ETA_MAX + (ii + 0.5) * co.CRYSTAL_DETA, atol=1e-12)
    np.testing.assert_allclose(phi, -np.pi + (jj + 0.5) * co.CRYSTAL_DPHI, atol=1e-12)
    # centres shifted by a whole turn land in the same crystal
    np.testing.assert_array_equal(co.ecal_index(eta, phi + 2 * np.pi)[1], jj)
    np.testing.assert_array_equal(co.ecal_index(eta, phi - 6 * np.pi)[1], jj)


def test_orientation():
    assert co.ecal_index(-1.48, -3.14) == (0, 0)
    assert co.ecal_index(1.48, 3.14) == (169, 359)
    assert co.ecal_index(0.001, 0.001) == (85, 180)
    assert co.ecal_index(-0.001, -0.001) == (84, 179)


def test_crystal_edges():
    k = np.arange(170)
    np.testing.assert_array_equal(co.ecal_index(co.ECAL_ETA_EDGES[:-1], 0.0)[0], k)
    below = np.nextafter(co.ECAL_ETA_EDGES[1:-1], -np.inf)
    np.testing.assert_array_equal(co.ecal_index(below, 0.0)[0], k[:-1])
    assert co.ecal_index(co.ECAL_ETA_MAX, 0.0)[0] == 169  # the closed top edge of the barrel
    j = np.arange(360)
    np.testing.assert_array_equal(co.ecal_index(0.0, co.ECAL_PHI_EDGES[:-1])[1], j)
    below = np.nextafter(co.ECAL_PHI_EDGES[1:], -np.inf)
    np.testing.assert_array_equal(co.ecal_index(0.0, below)[1], j)
    assert co.ecal_index(0.0, np.pi)[1] == 0  # pi is -pi
    assert co.in_ecal_barrel(co.ECAL_ETA_MAX) and co.in_ecal_barrel(-co.ECAL_ETA_MAX)
    assert not co.in_ecal_barrel(np.nextafter(co.ECAL_ETA_MAX, 2.0))
    assert co.in_ecal_barrel([1.479, 1.5, -1.5, np.inf]).tolist() == [True, False, False, False]


def test_figure6_phi_convention_conversion(rng):
    """The module doc: in a [0, 2 pi) grid the column is (iphi + 180) % 360."""
    phi = rng.uniform(-np.pi, np.pi, size=5000)
    iphi = co.ecal_index(0.0, phi)[1]
    col_0_2pi = np.floor(np.mod(phi, 2 * np.pi) / co.CRYSTAL_DPHI).astype(int)
    np.testing.assert_array_equal(col_0_2pi, (iphi + 180) % 360)
    image = np.zeros((170, 360))
    image[0, iphi] = 1.0
    np.testing.assert_array_equal(np.roll(image, 180, axis=-1)[0, col_0_2pi], 1.0)


# --------------------------------------------------------------------------- HCAL towers


def test_towers_are_5x5_crystals():
    ii, jj = _all_crystals()
    ti, tj = co.crystal_to_tower(ii, jj)
    assert ti.min() == 0 and ti.max() == 33 and tj.min() == 0 and tj.max() == 71
    counts = np.zeros((34, 72), dtype=int)
    np.add.at(counts, (ti, tj), 1)
    assert np.all(counts == 25)
    # towers are contiguous 5 x 5 blocks: upsampling a tower image by repetition agrees
    towers = np.arange(34 * 72).reshape(34, 72)
    up = np.repeat(np.repeat(towers, 5, axis=0), 5, axis=1)
    np.testing.assert_array_equal(up, towers[ti, tj])
    # tower of a crystal centre, found directly, equals the tower of the crystal
    eta, phi = co.ecal_center(ii, jj)
    hi, hj = co.hcal_index(eta, phi)
    np.testing.assert_array_equal(hi, ti)
    np.testing.assert_array_equal(hj, tj)


def test_tower_centres():
    ti, tj = np.meshgrid(np.arange(34), np.arange(72), indexing="ij")
    eta, phi = co.hcal_center(ti, tj)
    np.testing.assert_array_equal(co.hcal_index(eta, phi)[0], ti)
    np.testing.assert_array_equal(co.hcal_index(eta, phi)[1], tj)
    # the tower centre is the centre of its middle crystal (5t + 2, 5s + 2)
    ce, cp = co.ecal_center(5 * ti + 2, 5 * tj + 2)
    np.testing.assert_allclose(eta, ce, atol=1e-12)
    np.testing.assert_allclose(phi, cp, atol=1e-12)
    assert co.hcal_center(0, 0)[0] == pytest.approx(-co.ECAL_ETA_MAX + 2.5 * co.CRYSTAL_DETA)


# --------------------------------------------------------------------------- error messages


ETA_MAX = re.escape(repr(co.ECAL_ETA_MAX))


@pytest.mark.parametrize(
    "func, args, pattern",
    [
        (co.theta_to_eta, ([0.1] * 9 + [3.5],),
         r"theta must be in \(0, pi\) radians; got 3\.5 at index 9 "
         r"\(1 of 10 values out of range\)"),
        (co.theta_to_eta, (0.0,), r"theta must be in \(0, pi\) radians; got 0\.0$"),
        (co.theta_to_eta, (np.pi,), r"theta must be in \(0, pi\) radians; got 3\.14159"),
        (co.theta_to_eta, ([1.0, np.nan, np.nan],), r"got nan at index 1 \(2 of 3 values"),
        (co.eta_to_theta, ([0.0, np.inf],), r"eta must be a finite number; got inf at index 1"),
        (co.wrap_phi, (np.nan,), r"phi must be a finite number of radians; got nan"),
        (co.delta_phi, (0.0, [1.0, -np.inf]), r"phi2 must be a finite.*got -inf at index 1"),
        (co.delta_r, (np.nan, 0.0, 0.0, 0.0), r"eta1 must be a finite number; got nan"),
        (co.delta_r, (0.0, 0.0, 0.0, np.inf), r"phi2 must be a finite.*got inf"),
        (co.rapidity, (np.nan, 1.0), r"E must be a finite number of GeV; got nan"),
        (co.pt_eta_phi, (1.0, np.inf, 1.0), r"py must be a finite number of GeV; got inf"),
        (co.pxpypz, ([1.0, -2.0], 0.0, 0.0), r"pt must be a finite number >= 0 GeV; got -2\.0 at"),
        (co.pxpypz, (1.0, np.nan, 0.0), r"eta must be a finite number; got nan"),
        (co.in_ecal_barrel, ([0.0, np.nan],), r"eta must be a number \(\+-inf allowed\); got nan"),
        (co.ecal_index, ([0.0, 1.6, -2.0], 0.0),
         rf"eta must be in \[-{ETA_MAX}, {ETA_MAX}\] \(the ECAL barrel.*got 1\.6 at index 1 "
         r"\(2 of 3 values out of range\); filter with in_ecal_barrel"),
        (co.ecal_index, (1.4836, 0.0), r"got 1\.4836$|got 1\.4836;"),
        (co.ecal_index, (0.0, np.nan), r"phi must be a finite number of radians; got nan"),
        (co.hcal_index, (-1.5, 0.0), r"eta must be in \[.*got -1\.5"),
        (co.ecal_center, (170, 0), r"ieta must be an integer in \[0, 169\]; got 170$"),
        (co.ecal_center, (0, [0, 360, -1]),
         r"iphi must be an integer in \[0, 359\]; got 360 at index 1 \(2 of 3 values"),
        (co.ecal_center, ([[1, 2], [3.5, 2]], 0),
         r"ieta must be an integer.*got 3\.5 at index \(1, 0\)"),
        (co.crystal_to_tower, (-1, 0), r"ieta must be an integer in \[0, 169\]; got -1"),
        (co.hcal_center, (34, 0), r"ieta must be an integer in \[0, 33\]; got 34"),
        (co.hcal_center, (0, 72), r"iphi must be an integer in \[0, 71\]; got 72"),
    ],
)
def test_error_messages(func, args, pattern):
    with pytest.raises(ValueError, match=pattern):
        func(*args)


def test_index_type_error():
    with pytest.raises(TypeError, match="ieta must be integers"):
        co.ecal_center("a", 0)


def test_inputs_not_modified():
    phi = np.array([4.0, -4.0, 0.5])
    before = phi.copy()
    co.wrap_phi(phi)
    co.ecal_index(np.zeros(3), phi)
    np.testing.assert_array_equal(phi, before)
