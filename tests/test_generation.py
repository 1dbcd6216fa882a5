"""Tests of e2e_tutorial.generation: Pythia events, particle gun, pre-filter, input checks.

Few events and multi-parton interactions off wherever the test allows, to stay fast.
"""

from __future__ import annotations

import math

import numpy as np
import pythia8mc
import pytest
from particle import Particle

from e2e_tutorial import generation as g

M_PI0 = Particle.from_pdgid(111).mass / 1000.0  # GeV


def _p4(parts: np.ndarray) -> np.ndarray:
    return np.stack([parts["px"], parts["py"], parts["pz"], parts["e"]], axis=-1)


def _mass(p4: np.ndarray) -> float:
    return math.sqrt(max(p4[3] ** 2 - p4[0] ** 2 - p4[1] ** 2 - p4[2] ** 2, 0.0))


def _eta_phi(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pt = np.hypot(parts["px"], parts["py"])
    return np.arcsinh(parts["pz"] / pt), np.arctan2(parts["py"], parts["px"])


@pytest.fixture(scope="module")
def samples() -> dict[str, list]:
    """A few events (MPI off) per process, with truth; one MPI-on H event."""
    out = {name: list(g.generate_with_truth(name, 4, 123, mpi=False)) for name in g.PROCESSES}
    out["h_mpi"] = list(g.generate_with_truth("h", 1, 123, mpi=True))
    out["h_many"] = list(g.generate_with_truth("h", 20, 77, mpi=False))
    return out


# ------------------------------------------------------------------------ generated events


@pytest.mark.parametrize("name", ["h", "gg", "gj", "h_mpi"])
def test_final_state_conserves_beam_four_momentum(samples, name):
    for parts, _ in samples[name]:
        assert parts.dtype == g.PARTICLE_DTYPE
        total = _p4(parts).sum(axis=0)
        expected = np.array([0.0, 0.0, 0.0, g.E_CM])
        assert np.all(np.abs(total - expected) < 1e-6 * g.E_CM), total


def test_higgs_photons_have_the_higgs_mass(samples):
    width = pythia8mc.Pythia("", False).particleData.mWidth(25)  # GeV, about 4 MeV
    masses = []
    n_sum_matches = 0
    for parts, truth in samples["h_many"]:
        hard = parts[parts["origin"] == g.ORIGIN_HARD]
        # What is traced to the Higgs decay (two photons, or a photon and the e+e- pair it
        # split into) adds up to the Higgs mass drawn by Pythia; not when a photon split into
        # quarks (about 2 % of events), whose hadrons are labelled hadronization.
        n_sum_matches += _mass(_p4(hard).sum(axis=0)) == pytest.approx(truth.m_hat, rel=1e-6)
        photons = hard[hard["pdg_id"] == 22]
        if len(photons) == 2 and len(hard) == 2:
            assert np.all(photons["mother_id"] == 25)
            masses.append(_mass(_p4(photons).sum(axis=0)))
            assert masses[-1] == pytest.approx(truth.m_hat, rel=1e-6)
        assert abs(truth.m_hat - 125.0) < 1.0
        assert truth.pt_hat == 0.0  # 2 -> 1 process
    assert n_sum_matches >= 18
    assert len(masses) >= 15  # about 94 % of events: two photons, neither split
    # Breit-Wigner of full width `width`: half the events lie within width/2 of the peak.
    assert np.median(np.abs(np.array(masses) - 125.0)) < width


def test_gamma_jet_has_one_prompt_photon_and_pi0_photons(samples):
    n_pi0_photons = 0
    for parts, truth in samples["gj"]:
        prompt = parts[(parts["origin"] == g.ORIGIN_HARD) & (parts["pdg_id"] == 22)]
        assert len(prompt) <= 1
        hard_photon = truth.hard_process[truth.hard_process["pdg_id"] == 22]
        assert len(hard_photon) == 1 and len(truth.hard_process) == 2
        assert truth.pt_hat > 40.0
        decay = parts[(parts["origin"] == g.ORIGIN_DECAY) & (parts["pdg_id"] == 22)]
        n_pi0_photons += int(np.sum(decay["mother_id"] == 111))
    assert n_pi0_photons > 20
    for parts, truth in samples["gg"]:
        assert 25.0 < truth.pt_hat < 250.0
        assert np.all(truth.hard_process["pdg_id"] == 22) and len(truth.hard_process) == 2


def test_vertices_are_in_metres(samples):
    # K0S daughters (c tau = 2.68 cm) start centimetres to a metre away; in millimetres the
    # numbers would be 1000 times larger.
    radii = []
    for name in ("h", "gg", "gj", "h_many"):
        for parts, _ in samples[name]:
            k0s = parts[parts["mother_id"] == 310]
            radii.extend(np.sqrt(k0s["vx"] ** 2 + k0s["vy"] ** 2 + k0s["vz"] ** 2))
    assert len(radii) >= 10
    assert 1e-3 < np.median(radii) < 1.0


def test_charges_agree_with_pythia(samples):
    pdata = pythia8mc.Pythia("", False).particleData
    ids = set()
    for name in ("h", "gg", "gj", "h_mpi"):
        for parts, _ in samples[name]:
            ids.update(int(i) for i in np.unique(parts["pdg_id"]))
            for pid in np.unique(parts["pdg_id"]):
                q = parts["charge"][parts["pdg_id"] == pid]
                assert np.all(q == q[0])
    assert len(ids) > 15
    for pid in ids:
        assert g.charge_of(pid) == pytest.approx(pdata.charge(pid)), pid
    # and a fractional charge through the same lookup
    assert g.charge_of(2) == pytest.approx(2.0 / 3.0)


def test_same_seed_same_events_different_seed_different():
    a = list(g.generate("gj", 3, 42, mpi=False))
    b = list(g.generate("gj", 3, 42, mpi=False))
    c = list(g.generate("gj", 3, 43, mpi=False))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not all(len(x) == len(z) and np.array_equal(x, z) for x, z in zip(a, c))


def test_truth_counters_without_prefilter(samples):
    for i, (_, truth) in enumerate(samples["gg"]):
        assert truth.n_kept == i + 1
        assert truth.n_tried == truth.n_generated == truth.n_kept
        assert truth.filter_efficiency == 1.0
        assert truth.weight == 1.0
        assert truth.sigma_mb > 0.0 and truth.sigma_err_mb >= 0.0


def test_process_registry():
    assert set(g.PROCESSES) == {"h", "gg", "gj"}
    assert [g.PROCESSES[n].hard_cut for n in ("h", "gg", "gj")] == [False, True, True]
    assert "25:onIfMatch = 22 22" in g.process_info("h").settings
    assert "PhaseSpace:pTHatMin = 40." in g.process_info("gj").settings
    assert "PhaseSpace:pTHatMax = 250." in g.process_info("gg").settings


# ------------------------------------------------------------------------ pre-filter


def _photon(pt: float, eta: float, phi: float) -> tuple:
    return (22, 0.0, pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta),
            pt * math.cosh(eta), 0.0, 0.0, 0.0, g.ORIGIN_HARD, 0)


def test_em_enriched_on_hand_made_events():
    two = np.array([_photon(60, 0.3, 0.0), _photon(55, -0.5, 3.0)], dtype=g.PARTICLE_DTYPE)
    assert g.em_enriched(two)
    assert not g.em_enriched(two[:1])
    # same photons but one outside the barrel
    far = np.array([_photon(60, 0.3, 0.0), _photon(55, 2.0, 3.0)], dtype=g.PARTICLE_DTYPE)
    assert not g.em_enriched(far)
    # a pair below the mass threshold: two 20 GeV photons 0.8 rad apart (m ~ 16 GeV)
    light = np.array([_photon(20, 0.0, 0.0), _photon(20, 0.0, 0.8)], dtype=g.PARTICLE_DTYPE)
    assert not g.em_enriched(light)
    # the two photons of a 30 GeV pi0 (0.009 rad apart) are one EM object, not two
    pi0 = g.particle_gun(111, 30.0, 0.2, 1.0, seed=3)[0]
    assert len(g.em_objects(pi0)) == 1
    assert not g.em_enriched(np.concatenate([pi0, pi0]))  # same direction: pair mass ~0


def test_hard_process_cut_on_hand_made_events():
    ok = np.array([_photon(60, 0.3, 0.0), _photon(55, -0.5, 3.0)], dtype=g.PARTICLE_DTYPE)
    assert g.passes_hard_process_cut(ok)
    forward = np.array([_photon(60, 0.3, 0.0), _photon(55, 2.6, 3.0)], dtype=g.PARTICLE_DTYPE)
    assert not g.passes_hard_process_cut(forward)
    light = np.array([_photon(20, 0.0, 0.0), _photon(20, 0.0, 0.8)], dtype=g.PARTICLE_DTYPE)
    assert not g.passes_hard_process_cut(light)


def test_prefilter_during_generation():
    events = list(g.generate_with_truth("gg", 3, 5, mpi=False, prefilter=True))
    assert len(events) == 3
    for parts, truth in events:
        assert g.em_enriched(parts)
        assert g.passes_hard_process_cut(truth.hard_process)
        assert np.all(np.abs(np.arcsinh(truth.hard_process["pz"] / np.hypot(
            truth.hard_process["px"], truth.hard_process["py"]))) < g.HARD_ETA_MAX)
    last = events[-1][1]
    assert last.n_kept == 3
    assert last.n_tried > last.n_generated >= last.n_kept  # gg at 25 GeV rarely passes
    assert 0.0 < last.filter_efficiency < 1.0
    assert last.sigma_kept_mb < last.sigma_mb
    # gg -> H has no stage-1 cut: every drawn hard process is showered and hadronized
    _, h_truth = list(g.generate_with_truth("h", 2, 5, mpi=False, prefilter=True))[-1]
    assert h_truth.n_tried == h_truth.n_generated >= h_truth.n_kept == 2


def test_max_tries_stops_an_endless_search():
    with pytest.raises(RuntimeError, match="max_tries=3"):
        list(g.generate("gj", 50, 5, mpi=False, prefilter=True, max_tries=3))


def test_truth_selection_on_hand_made_events():
    # m = 2 * 60 * cosh(0.4) ~ 129 GeV; 60 > 129/3
    passing = np.array([_photon(60, 0.4, 0.0), _photon(60, -0.4, math.pi)], dtype=g.PARTICLE_DTYPE)
    assert g.truth_selection(passing)
    third = np.array([_photon(30, 1.0, 1.5)], dtype=g.PARTICLE_DTYPE)
    three = np.concatenate([passing, third])
    assert not g.truth_selection(three)  # exactly two candidates are required
    soft_sub = np.array([_photon(100, 0.4, 0.0), _photon(21, -1.4, math.pi)],
                        dtype=g.PARTICLE_DTYPE)
    assert not g.truth_selection(soft_sub)  # subleading pT < m/4


# ------------------------------------------------------------------------ particle gun


@pytest.mark.parametrize("pdg_id", [22, 11, -11, 211, -211, 13])
def test_gun_particle_has_requested_energy_and_direction(pdg_id):
    events = g.particle_gun(pdg_id, [50.0, 7.5], [0.7, -1.2], [2.0, -3.0], n=2,
                            vertex=(0.001, -0.002, 0.05))
    assert len(events) == 2
    for ev, (e, eta, phi) in zip(events, [(50.0, 0.7, 2.0), (7.5, -1.2, -3.0)]):
        assert ev.dtype == g.PARTICLE_DTYPE and len(ev) == 1
        got_eta, got_phi = _eta_phi(ev)
        assert ev["e"][0] == pytest.approx(e, rel=1e-12)
        assert got_eta[0] == pytest.approx(eta, abs=1e-12)
        assert got_phi[0] == pytest.approx(phi, abs=1e-12)
        m = Particle.from_pdgid(pdg_id).mass / 1000.0
        p4 = _p4(ev)[0]
        m2 = p4[3] ** 2 - p4[0] ** 2 - p4[1] ** 2 - p4[2] ** 2
        assert m2 == pytest.approx(m**2, abs=1e-12 * e**2)
        assert ev["charge"][0] == Particle.from_pdgid(pdg_id).charge
        assert (ev["vx"][0], ev["vy"][0], ev["vz"][0]) == (0.001, -0.002, 0.05)
        assert ev["origin"][0] == g.ORIGIN_HARD


def test_pi0_gun_decays_to_two_photons_with_pi0_mass():
    energy = 100.0
    events = g.particle_gun(111, energy, 0.5, 1.0, n=2000, seed=11)
    expected_p4 = g.particle_gun(22, energy, 0.5, 1.0)[0]  # only for the direction
    angles = []
    for ev in events:
        assert len(ev) == 2 and np.all(ev["pdg_id"] == 22)
        assert np.all(ev["mother_id"] == 111) and np.all(ev["origin"] == g.ORIGIN_DECAY)
        total = _p4(ev).sum(axis=0)
        assert total[3] == pytest.approx(energy, rel=1e-12)
        assert _mass(total) == pytest.approx(M_PI0, rel=1e-6)
        direction = total[:3] / np.linalg.norm(total[:3])
        ref = _p4(expected_p4)[0, :3]
        assert np.allclose(direction, ref / np.linalg.norm(ref), atol=1e-12)
        p1, p2 = _p4(ev)[:, :3]
        cos = p1 @ p2 / np.linalg.norm(p1) / np.linalg.norm(p2)
        angles.append(math.acos(min(cos, 1.0)))
    angles = np.array(angles)
    theta_min = 2.0 * M_PI0 / energy  # symmetric decay, for E >> m
    assert angles.min() >= theta_min * (1 - 1e-6)
    # isotropic decay: the energy sharing is uniform, so the median angle is
    # theta_min / sqrt(4 * 0.25 * 0.75) = 1.155 theta_min
    assert np.median(angles) / theta_min == pytest.approx(1.155, abs=0.04)


def test_pi0_gun_is_reproducible():
    a = g.particle_gun(111, 20.0, 0.0, 0.0, n=3, seed=5)
    b = g.particle_gun(111, 20.0, 0.0, 0.0, n=3, seed=5)
    c = g.particle_gun(111, 20.0, 0.0, 0.0, n=3, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))


# ------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(process="ttbar", n_events=1, seed=1),
         r"unknown process 'ttbar'.*\['gg', 'gj', 'h'\]"),
        (dict(process="h", n_events=0, seed=1), "n_events must be a positive integer, got 0"),
        (dict(process="h", n_events=-3, seed=1), "n_events must be a positive integer, got -3"),
        (dict(process="h", n_events=1, seed=0),
         r"seed 0 is outside the valid range \[1, 900000000\]"),
        (dict(process="h", n_events=1, seed=900_000_001), "seed 900000001 is outside"),
        (dict(process="h", n_events=1, seed=1.5), "seed must be an integer"),
    ],
)
def test_generate_rejects_bad_arguments_at_the_call(kwargs, message):
    with pytest.raises(ValueError, match=message):
        g.generate(**kwargs)  # no iteration needed: checked before Pythia starts


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((999, 10.0, 0.0, 0.0), {}, r"unknown PDG id 999.*valid ids are \(22, 11"),
        ((111, 0.1, 0.0, 0.0), {}, r"energy 0.1 GeV is not above the mass of PDG id 111 \(0.13497"),
        ((22, 0.0, 0.0, 0.0), {}, "energy 0.0 GeV is not above the mass of PDG id 22"),
        ((11, 10.0, float("nan"), 0.0), {}, "eta must be finite, got nan"),
        ((11, 10.0, 0.0, float("inf")), {}, "phi must be finite"),
        ((22, 10.0, 0.0, 0.0), {"n": 0}, "n must be a positive integer"),
        ((22, [10.0, 20.0], 0.0, 0.0), {"n": 3}, "energy must be a number or have length n=3"),
    ],
)
def test_particle_gun_rejects_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        g.particle_gun(*args, **kwargs)
