"""A parametric CMS-like detector: tracker, ECAL barrel and HCAL barrel (seminar 2.3.2-2.3.4).

:func:`simulate` turns the final-state particles of one event (a :data:`PARTICLE_DTYPE
<e2e_tutorial.generation.PARTICLE_DTYPE>` array) into sparse detector hits, a
:class:`DetectorResponse`; :mod:`e2e_tutorial.images` projects those hits onto the
170 x 360 ECAL-barrel image of seminar section 2.4 (Figure 6). :func:`simulate_many` does the
same for a block of events at once (one response per event), several times faster per event
than one :func:`simulate` call each. All work is vectorised over the particles of the event
(of all events of the block); the randomness comes only from the ``numpy.random.Generator``
passed in, so the same seed gives the same response.

Units: GeV, metres, tesla, radians. Every number of the model lives in :class:`DetectorParams`
(print it with :func:`parameter_table`), each with its source: CMS JINST 3 (2008) S08004
(``cms2008``), the ECAL TDR CERN-LHCC-97-033 (``cmsecaltdr1997``), the HCAL TDR
CERN-LHCC-97-031 (``cmshcaltdr1997``), the tracker TDR CERN-LHCC-98-006 (``cmstrackertdr1998``)
and the PDG tables of material properties (``pdg2024``). They are approximate: good enough for
teaching, not a CMS simulation.

The model, particle by particle
-------------------------------
*Propagation.* Charged particles follow a helix in the solenoid's uniform field B = 3.8 T
along +z, from their production vertex to the ECAL front face, a cylinder of radius
r = 1.29 m; neutral particles fly straight. The transverse radius of the helix is
R = pT / (0.2998 |q| B) metres (pT in GeV, B in T, q in units of e; the familiar
R = pT / (0.3 B)). Sign convention: the force q v x B with B along +z turns a positive
particle *clockwise* seen from +z (for v along +x it points along -y), so its azimuth
decreases. From the origin, the azimuth of the impact point at radius r is
phi0 - q arcsin(r / 2R), the transverse arc length is s = 2R arcsin(r / 2R), the impact
z = vz + s pz / pT and its pseudorapidity asinh(z / r). A particle with 2R < r, i.e.
pT < 0.2998 B r / 2 = 0.735 GeV, curls up inside the tracker (a "looper") and reaches
nothing. :func:`propagate_to_radius` does this for any vertex inside the cylinder.

*Tracker.* A charged particle with |eta| < 2.5 (its direction at the vertex) and
pT > 1 GeV is reconstructed with probability 0.9; its pT is smeared with
sigma(pT)/pT = 0.5% (+) 0.015%/GeV x pT (1.6% at 100 GeV). The track enters the image as its
measured pT in the crystal of its ECAL-face impact (tracks that reach no barrel crystal are
dropped).

*ECAL (PbWO4 crystals).* Photons and electrons deposit their whole energy, smeared with
sigma/E = 2.8%/sqrt(E) (+) 0.3%, as an EM shower: a transverse profile of two Gaussians
(a core and a tail, widths in units of the Moliere radius 2.19 cm) integrated exactly over
the crystal edges with erf, separately in eta and phi, over a 9 x 9-crystal window around the
impact crystal (renormalised to the window; the window holds 99.7% of the untruncated
profile). The profile is chosen so that a photon at a crystal centre leaves 80% in that
crystal, 94% in 3 x 3 and 97% in 5 x 5 (ECAL TDR), and 92% within one Moliere radius
(the definition of R_M: about 90%). Every crystal of a window then gets Gaussian
electronic noise of 40 MeV; the noise term 0.12/E of the CMS resolution formula is the noise
of a 3 x 3 sum, sqrt(9) x 40 MeV = 0.12 GeV. Readout follows the idea of CMS's selective
readout: the windows of showers with ET > 5 GeV are read out in full (so crystals there can
be slightly negative, and the image sum of a photon is unbiased); every other crystal is
zero-suppressed, kept only at 120 MeV = 3 sigma_noise or more. Without the full readout,
zero suppression would eat the shower tail: about 4% of a 50 GeV photon. Muons leave the
minimum-ionising
energy of a crystal, 10.2 MeV/cm x 23 cm = 0.235 GeV (PDG dE/dx_min of PbWO4), in the
crystal they hit.

*Hadrons.* A hadron's visible energy is its energy E smeared with the combined ECAL+HCAL
resolution sigma/E = 100%/sqrt(E) (+) 5%, drawn from a gamma distribution of that mean and
width (so never below zero). The ECAL crystals are 23 cm = 1.13 nuclear interaction lengths
of PbWO4 deep (lambda_I = 20.3 cm), so a hadron starts its shower in the ECAL with probability
1 - exp(-1.13) = 0.68; it then leaves half of its visible energy there (spread with the EM
profile) and the other half in the HCAL tower behind. A charged hadron that does not interact
in the ECAL leaves the MIP energy in its crystal and the rest in the HCAL; a neutral one
(n, K0_L) leaves everything in the HCAL. Neutrinos leave nothing.

*HCAL (brass/scintillator towers of 5 x 5 crystals, 34 x 72 over the ECAL barrel).* Each
particle's HCAL energy goes into the tower of its ECAL-face impact; muons leave 2 GeV there.
No noise, no threshold.

Approximations (named, so nobody mistakes the model for CMS)
------------------------------------------------------------
* Only the barrel: particles whose ECAL-face impact has |eta| > ECAL_ETA_MAX (the endcaps,
  the beam remnants) are ignored; so are particles produced outside the ECAL radius and
  particles along the beam (pT = 0). Shower energy leaking past the barrel edge in eta is lost.
* No material in the tracker: no photon conversions, no bremsstrahlung, no multiple
  scattering, no nuclear interactions (CMS has 0.4-1.8 X0 before the ECAL).
* Uniform field up to the ECAL face; no further bending between ECAL and HCAL (the HCAL
  tower is the one behind the ECAL impact). Track directions are measured perfectly; only
  pT is smeared. Tracking efficiency does not depend on the production vertex.
* Crystals are treated as pointing exactly to the origin (CMS tilts them by 3 degrees), and
  the shower profile is the same for all angles of incidence and for displaced vertices.
* Hadronic showers in the ECAL use the (too narrow) EM profile; hadrons deposit their total
  energy, not their kinetic energy; no e/h non-compensation, no leakage behind the HCAL,
  no lateral spread between HCAL towers.
* MIP deposits have no Landau fluctuations; muons do not shower.
* Noise only in crystals that received energy through a shower window (the rest of the barrel
  is silent); no HCAL noise; no pile-up; no timing; no saturation; no dead crystals.
* Particles are assumed stable inside the tracker volume (decays are the generator's job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

from e2e_tutorial.coordinates import (
    CRYSTAL_DETA,
    CRYSTAL_DPHI,
    ECAL_ETA_EDGES,
    ECAL_ETA_MAX,
    ECAL_N_ETA,
    ECAL_N_PHI,
    ECAL_PHI_EDGES,
    ECAL_RADIUS_M,
    HCAL_N_ETA,
    HCAL_N_PHI,
    HCAL_TOWER_SIZE,
    _wrap,
)

__all__ = [
    "C_LIGHT_GEV_PER_T_M",
    "REQUIRED_FIELDS",
    "DetectorParams",
    "DEFAULT",
    "parameter_table",
    "DetectorResponse",
    "bending_radius",
    "looper_pt_threshold",
    "propagate_to_radius",
    "em_profile_1d",
    "shower_weights",
    "simulate",
    "simulate_many",
]

#: pT [GeV] = C_LIGHT_GEV_PER_T_M x |q| [e] x B [T] x R [m]: the speed of light / 1e9, the
#: "0.3" of R = pT / (0.3 B).
C_LIGHT_GEV_PER_T_M = 0.299792458

#: Fields of the particle array that :func:`simulate` reads (generation.PARTICLE_DTYPE has them).
REQUIRED_FIELDS = ("pdg_id", "charge", "px", "py", "pz", "e", "vx", "vy", "vz")

_EM_IDS = (11, 22)  # e-/e+ and photons: EM showers
_MUON_ID = 13
_NEUTRINO_IDS = (12, 14, 16)


def _p(default: float, unit: str, source: str, doc: str) -> Any:
    """A dataclass field of DetectorParams with its unit, source and meaning as metadata."""
    return field(default=default, metadata={"unit": unit, "source": source, "doc": doc})


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorParams:
    """Every number of the detector model, with unit and source in each field's metadata.

    Change one with ``dataclasses.replace(DEFAULT, ecal_noise_gev=0.0)``. Sources are the
    bib keys of ``book/references.bib``; "choice" marks a modelling choice of this course.
    """

    # Magnet and geometry
    b_field_t: float = _p(3.8, "T", "cms2008", "solenoid field along +z in the tracker")
    ecal_radius_m: float = _p(
        ECAL_RADIUS_M, "m", "cms2008", "radius of the ECAL-barrel front face"
    )
    # Tracker
    tracker_eta_max: float = _p(2.5, "", "cms2008", "tracker acceptance |eta|")
    track_pt_min_gev: float = _p(
        1.0, "GeV", "cmstrackertdr1998", "tracks reconstructed above this pT"
    )
    track_efficiency: float = _p(
        0.90, "", "cmstrackertdr1998", "efficiency for charged particles above the pT cut (>90%)"
    )
    track_res_const: float = _p(
        0.005, "", "cms2008", "sigma(pT)/pT constant (multiple-scattering) term"
    )
    track_res_slope_per_gev: float = _p(
        0.00015, "1/GeV", "cms2008",
        "sigma(pT)/pT term proportional to pT (15%/TeV): 1.6% at 100 GeV, CMS quotes 1-2%",
    )
    # ECAL
    ecal_stochastic: float = _p(0.028, "GeV^1/2", "cms2008", "ECAL sigma/E stochastic term a/sqrt(E)")
    ecal_constant: float = _p(0.003, "", "cms2008", "ECAL sigma/E constant term")
    ecal_noise_gev: float = _p(0.040, "GeV", "cms2008", "electronic noise per barrel crystal")
    ecal_zs_threshold_gev: float = _p(
        0.120, "GeV", "choice",
        "zero suppression at 3 sigma_noise: weaker crystals are dropped (outside full readout)",
    )
    ecal_full_readout_et_gev: float = _p(
        5.0, "GeV", "choice",
        "selective readout (idea from cms2008): windows of showers above this ET are kept whole",
    )
    moliere_radius_m: float = _p(0.0219, "m", "cms2008", "Moliere radius of PbWO4")
    em_core_fraction: float = _p(
        0.91, "", "cmsecaltdr1997", "EM profile: energy in the core Gaussian (fit to 80/94/97%)"
    )
    em_core_sigma_rm: float = _p(
        0.28, "R_M", "cmsecaltdr1997", "EM profile: core Gaussian width (fit to 80/94/97%)"
    )
    em_tail_sigma_rm: float = _p(
        1.94, "R_M", "cmsecaltdr1997", "EM profile: tail Gaussian width (fit to 80/94/97%)"
    )
    shower_window: int = _p(
        9, "crystals", "choice", "showers are spread over this many crystals per side (odd)"
    )
    crystal_length_m: float = _p(0.23, "m", "cms2008", "barrel crystal length (25.8 X0)")
    pbwo4_dedx_min_gev_per_m: float = _p(
        1.02, "GeV/m", "pdg2024", "minimum-ionising dE/dx of PbWO4 (1.229 MeV cm2/g x 8.3 g/cm3)"
    )
    pbwo4_lambda_int_m: float = _p(0.2028, "m", "pdg2024", "nuclear interaction length of PbWO4")
    hadron_ecal_share: float = _p(
        0.5, "", "choice", "share of its energy a hadron showering in the ECAL leaves there"
    )
    # HCAL
    hadron_stochastic: float = _p(
        1.00, "GeV^1/2", "cmshcaltdr1997", "ECAL+HCAL hadron sigma/E stochastic term (approximate)"
    )
    hadron_constant: float = _p(
        0.05, "", "cmshcaltdr1997", "ECAL+HCAL hadron sigma/E constant term (approximate)"
    )
    muon_hcal_gev: float = _p(
        2.0, "GeV", "choice", "muon energy in its HCAL tower (rough: ~1 m of brass at eta = 0)"
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"DetectorParams.{f.name} must be a finite number >= 0; got {v!r}")
        for name in ("b_field_t", "ecal_radius_m", "moliere_radius_m", "em_core_sigma_rm",
                     "em_tail_sigma_rm", "pbwo4_lambda_int_m"):
            if getattr(self, name) <= 0:
                raise ValueError(f"DetectorParams.{name} must be > 0; got {getattr(self, name)!r}")
        for name in ("track_efficiency", "em_core_fraction", "hadron_ecal_share"):
            if getattr(self, name) > 1:
                raise ValueError(f"DetectorParams.{name} must be in [0, 1]; got {getattr(self, name)!r}")
        w = self.shower_window
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w % 2 != 1:
            raise ValueError(f"DetectorParams.shower_window must be an odd integer; got {w!r}")

    @property
    def crystal_width_m(self) -> float:
        """Width of one crystal at the ECAL face, metres: r x 2 pi / 360 = 0.0225 (22 mm face)."""
        return self.ecal_radius_m * CRYSTAL_DPHI

    @property
    def ecal_mip_gev(self) -> float:
        """Energy a minimum-ionising particle leaves in one crystal, GeV (0.235)."""
        return self.pbwo4_dedx_min_gev_per_m * self.crystal_length_m

    @property
    def ecal_interaction_probability(self) -> float:
        """Probability that a hadron starts its shower in the ECAL: 1 - exp(-L / lambda_I)."""
        return float(1.0 - np.exp(-self.crystal_length_m / self.pbwo4_lambda_int_m))

    @property
    def ecal_noise_3x3_gev(self) -> float:
        """Noise of a 3 x 3 sum, GeV: 3 x noise per crystal, the 0.12/E term of cms2008."""
        return 3.0 * self.ecal_noise_gev

    @property
    def looper_pt_gev(self) -> float:
        """Charged particles (|q| = 1) below this pT never reach the ECAL face, GeV (0.735)."""
        return looper_pt_threshold(self.b_field_t, self.ecal_radius_m)


#: The default parameters used throughout the course.
DEFAULT = DetectorParams()


def parameter_table(params: DetectorParams = DEFAULT) -> list[tuple[str, float, str, str, str]]:
    """Rows (name, value, unit, source, meaning) of every parameter, for printing in the book."""
    return [
        (f.name, getattr(params, f.name), f.metadata["unit"], f.metadata["source"], f.metadata["doc"])
        for f in dataclasses.fields(params)
    ]


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorResponse:
    """Sparse hits of one event (seminar 2.4), plus per-particle truth for bookkeeping.

    Hit arrays are 1-D and of equal length within each sub-detector. ECAL hits are unique
    crystals sorted by (ieta, iphi); HCAL hits unique towers sorted likewise; tracks one entry
    per reconstructed track (several tracks may share a crystal).
    """

    #: Tracks: crystal (ieta 0..169, iphi 0..359) of the ECAL-face impact, measured pT (GeV),
    #: and the row of the particle in the input array.
    track_ieta: NDArray[np.intp]
    track_iphi: NDArray[np.intp]
    track_pt: NDArray[np.float64]
    track_particle: NDArray[np.intp]
    #: ECAL hits after noise and zero suppression: crystal and energy (GeV).
    ecal_ieta: NDArray[np.intp]
    ecal_iphi: NDArray[np.intp]
    ecal_energy: NDArray[np.float64]
    #: HCAL hits: tower (ieta 0..33, iphi 0..71) and energy (GeV).
    hcal_ieta: NDArray[np.intp]
    hcal_iphi: NDArray[np.intp]
    hcal_energy: NDArray[np.float64]
    #: Per input particle: energy (GeV) deposited in the ECAL / HCAL before any smearing and
    #: noise (0 for particles that reach no barrel crystal, neutrinos, ...).
    ecal_true: NDArray[np.float64]
    hcal_true: NDArray[np.float64]
    #: Per input particle: (eta, phi) of its ECAL-face impact; NaN where it does not reach the
    #: barrel face.
    impact_eta: NDArray[np.float64]
    impact_phi: NDArray[np.float64]


# ---------------------------------------------------------------------------------------------
# Propagation (seminar 2.3.2: charged particles bend in the solenoid)
# ---------------------------------------------------------------------------------------------


def bending_radius(pt: NDArray, charge: NDArray, b_field_t: float) -> NDArray[np.float64]:
    """Transverse radius of the helix, metres: R = pT / (0.2998 |q| B); inf for q = 0.

    ``pt`` in GeV, ``charge`` in units of e, ``b_field_t`` in tesla.
    """
    q = np.abs(np.asarray(charge, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return np.asarray(pt, dtype=np.float64) / (C_LIGHT_GEV_PER_T_M * q * b_field_t)


def looper_pt_threshold(b_field_t: float, radius_m: float, charge: float = 1.0) -> float:
    """pT (GeV) below which a particle from the beam line never reaches ``radius_m``: 2R < r."""
    return C_LIGHT_GEV_PER_T_M * abs(charge) * b_field_t * radius_m / 2.0


def propagate_to_radius(
    vx: NDArray, vy: NDArray, vz: NDArray,
    px: NDArray, py: NDArray, pz: NDArray,
    charge: NDArray,
    radius_m: float,
    b_field_t: float,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Where each particle first crosses the cylinder of radius ``radius_m`` around the beam.

    Vertex in metres, momentum in GeV, charge in units of e, field in tesla along +z.
    Charged particles follow a helix (a positive charge turns clockwise seen from +z),
    neutral ones a straight line. Returns ``(reaches, x, y, z)`` in metres; ``reaches`` is
    False (and x, y, z NaN) for loopers whose circle never gets to the radius, for vertices
    on or outside the cylinder, and for pT = 0.

    Geometry: the helix's circle has radius R and centre c = v + w R n, with n the unit
    vector 90 degrees counter-clockwise from the transverse momentum and w = -sign(q) the
    turning sense (+1 counter-clockwise). After turning by an angle alpha the particle is at
    c + rot(w alpha)(v - c); |that|^2 = r^2 fixes alpha, the transverse arc length is
    s = R alpha and z = vz + s pz / pT.
    """
    vx, vy, vz, px, py, pz, q = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (vx, vy, vz, px, py, pz, charge))
    )
    return _propagate(vx, vy, vz, px, py, pz, q, np.hypot(px, py), float(radius_m), b_field_t)


def _mod_two_pi(a: NDArray) -> NDArray[np.float64]:
    """np.mod(a, 2 pi), the same numbers bit for bit (also +0.0 for 0.0 and -0.0, NaN for NaN
    and +-inf), 8 times faster: np.mod computes the floor division too."""
    m = np.fmod(a, 2.0 * np.pi)
    return np.where(m < 0, m + 2.0 * np.pi, m + 0.0)  # + 0.0 turns -0.0 into 0.0, as np.mod


def _propagate(
    vx: NDArray, vy: NDArray, vz: NDArray, px: NDArray, py: NDArray, pz: NDArray, q: NDArray,
    pt: NDArray, r: float, b_field_t: float,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """:func:`propagate_to_radius` on float64 arrays of equal shape, ``pt = hypot(px, py)``."""
    inside = (np.hypot(vx, vy) < r) & (pt > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tx, ty = px / pt, py / pt
        # Straight line: v + s t with |v + s t| = r, s > 0.
        b = vx * tx + vy * ty
        s_line = -b + np.sqrt(b * b - (vx * vx + vy * vy - r * r))
        # Helix.
        radius = bending_radius(pt, q, b_field_t)
        w = -np.sign(q)
        w_radius = w * radius
        cx, cy = vx - w_radius * ty, vy + w_radius * tx
        c_norm = np.hypot(cx, cy)
        cos_arg = (r * r - c_norm * c_norm - radius * radius) / (2.0 * radius * c_norm)
        psi_c = np.arctan2(cy, cx)
        dx, dy = vx - cx, vy - cy
        psi_d = np.arctan2(dy, dx)
        acos = np.arccos(np.clip(cos_arg, -1.0, 1.0))
        psi = psi_c - psi_d
        alpha = np.minimum(_mod_two_pi(w * (psi + acos)), _mod_two_pi(w * (psi - acos)))
        w_alpha = w * alpha
        cos_a, sin_a = np.cos(w_alpha), np.sin(w_alpha)
        hx = cx + cos_a * dx - sin_a * dy
        hy = cy + sin_a * dx + cos_a * dy
        s_helix = radius * alpha
    charged = q != 0
    reaches = inside & (~charged | (np.abs(cos_arg) <= 1.0))
    x = np.where(charged, hx, vx + s_line * tx)
    y = np.where(charged, hy, vy + s_line * ty)
    s = np.where(charged, s_helix, s_line)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = vz + s * pz / pt
    nan = np.nan
    return reaches, np.where(reaches, x, nan), np.where(reaches, y, nan), np.where(reaches, z, nan)


# ---------------------------------------------------------------------------------------------
# EM shower profile (seminar 2.3.3)
# ---------------------------------------------------------------------------------------------


def em_profile_1d(offset: NDArray, sigma: float, half_window: int) -> NDArray[np.float64]:
    """Fraction of a 1-D Gaussian of width ``sigma`` (crystal units) in each crystal of a window.

    ``offset`` (shape (n,)) is the shower centre minus the centre of the impact crystal, in
    crystal units (within [-0.5, 0.5)). Returns (n, 2 h + 1) fractions for the crystals at
    -h..h from the impact crystal: the Gaussian integrated exactly between crystal edges,
    0.5 [erf((d + 1/2 - u) / (sqrt 2 sigma)) - erf((d - 1/2 - u) / (sqrt 2 sigma))].
    """
    # erf at the 2 h + 2 crystal edges d + 1/2, d = -h - 1 .. h (the lower edge of crystal d is
    # the upper edge of crystal d - 1, the same number: half-integers are exact).
    edges = np.arange(-half_window - 1, half_window + 1, dtype=np.float64) + 0.5
    u = np.asarray(offset, dtype=np.float64)[:, None]
    k = 1.0 / (np.sqrt(2.0) * sigma)
    cdf = erf((edges - u) * k)
    return 0.5 * (cdf[:, 1:] - cdf[:, :-1])


def shower_weights(
    offset_eta: NDArray, offset_phi: NDArray, params: DetectorParams = DEFAULT
) -> NDArray[np.float64]:
    """(n, W, W) energy fractions of EM showers over the W x W window around each impact crystal.

    Two Gaussians (core and tail, widths ``em_*_sigma_rm`` Moliere radii), each separable in
    eta and phi; the sum over the window is renormalised to 1 (rows eta, columns phi).
    """
    h = params.shower_window // 2
    rm = params.moliere_radius_m / params.crystal_width_m  # Moliere radius in crystals (0.97)
    offset_eta = np.asarray(offset_eta, dtype=np.float64).reshape(-1)
    offset_phi = np.asarray(offset_phi, dtype=np.float64).reshape(-1)
    n = len(offset_eta)
    fractions = (params.em_core_fraction, 1.0 - params.em_core_fraction)
    sigmas = (params.em_core_sigma_rm * rm, params.em_tail_sigma_rm * rm)
    # em_profile_1d for both Gaussians and both directions with one erf call: erf at the
    # crystal edges, shape (Gaussian, eta offsets then phi offsets, edge).
    edges = np.arange(-h - 1, h + 1, dtype=np.float64) + 0.5
    k = np.array([1.0 / (np.sqrt(2.0) * sigma) for sigma in sigmas])
    u = np.concatenate([offset_eta, offset_phi])[:, None]
    cdf = erf((edges - u)[None, :, :] * k[:, None, None])
    prof = cdf[:, :, 1:] - cdf[:, :, :-1]
    prof *= 0.5
    out = fractions[0] * prof[0, :n, :, None] * prof[0, n:, None, :]
    out += fractions[1] * prof[1, :n, :, None] * prof[1, n:, None, :]
    out /= out.sum(axis=(1, 2), keepdims=True)
    return out


# ---------------------------------------------------------------------------------------------
# The detector
# ---------------------------------------------------------------------------------------------


def _check_particles(particles: np.ndarray, finite: bool = True) -> np.ndarray:
    """``particles`` if it is a 1-D structured array with :data:`REQUIRED_FIELDS`, all finite
    (that check skipped for ``finite=False``); ValueError otherwise."""
    if not isinstance(particles, np.ndarray) or particles.dtype.names is None:
        raise ValueError(
            f"particles must be a numpy structured array with fields {REQUIRED_FIELDS}; "
            f"got {type(particles).__name__} of dtype {getattr(particles, 'dtype', None)}"
        )
    missing = [f for f in REQUIRED_FIELDS if f not in particles.dtype.names]
    if missing:
        raise ValueError(
            f"particles lack the field(s) {missing}; expected at least {REQUIRED_FIELDS} "
            "(see generation.PARTICLE_DTYPE)"
        )
    if particles.ndim != 1:
        raise ValueError(f"particles must be 1-D (one row per particle); got shape {particles.shape}")
    if not finite:
        return particles
    for name in REQUIRED_FIELDS:
        col = particles[name]
        if np.isfinite(col).all():
            continue
        bad = ~np.isfinite(col)
        i = int(np.argmax(bad))
        raise ValueError(f"particles[{name!r}] must be finite; got {col[i]!r} at row {i}")
    return particles


def _gaussian_smear(e: NDArray, stochastic: float, constant: float, rng: np.random.Generator) -> NDArray:
    """E (1 + N(0, sigma/E)) with sigma/E = stochastic/sqrt(E) (+) constant, clipped at 0."""
    safe = np.where(e > 0, e, 1.0)
    rel = np.sqrt(stochastic**2 / safe + constant**2)
    z = rng.standard_normal(e.shape)
    return np.where(e > 0, np.maximum(e * (1.0 + rel * z), 0.0), 0.0)


def _gamma_smear(e: NDArray, stochastic: float, constant: float, rng: np.random.Generator) -> NDArray:
    """Gamma-distributed energies of mean E and sigma/E = stochastic/sqrt(E) (+) constant (>= 0)."""
    safe = np.where(e > 0, e, 1.0)
    rel2 = stochastic**2 / safe + constant**2
    if not np.all(rel2 > 0):  # no smearing at all (both terms zero)
        return np.maximum(e, 0.0)
    return rng.gamma(1.0 / rel2, np.where(e > 0, e * rel2, 0.0))


def _sum_by_key(
    keys: NDArray[np.intp], values: NDArray, flags: NDArray[np.bool_]
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.bool_]]:
    """The distinct ``keys`` (integers) sorted, the sum of ``values`` over each and whether any
    of its ``flags`` is set.

    The sums add the values of a key in input order, starting from 0.0, as np.bincount does:
    the same numbers, bit for bit, as a bincount over a dense array of all keys.
    """
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0, dtype=bool)
    # A stable sort by key: np.sort of int64 numbers holding the key in the high bits and the
    # input position in the low bits. Sum, sort included, over 2 x 10^5 crystal deposits: 2.9 ms
    # this way, 4.7 ms with np.argsort(kind="stable"), 6.3 ms with np.unique(return_inverse=True).
    shift = n.bit_length()
    limit = 1 << (62 - shift)
    if -limit <= int(keys.min()) and int(keys.max()) < limit:
        packed = keys << shift
        packed |= np.arange(n)
        packed.sort()
        order = packed & ((1 << shift) - 1)
        packed >>= shift
        sorted_keys = packed
    else:  # keys too large to pack (batches of millions of events)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    group = np.cumsum(first)
    group -= 1  # position of each sorted entry's key among the distinct ones
    sums = np.bincount(group, weights=values[order])
    any_flag = np.zeros(sums.size, dtype=bool)
    any_flag[group[flags[order]]] = True
    return sorted_keys[first], sums, any_flag


# Crystal-centre coordinates (as coordinates.ecal_center computes them) and constants.
_ETA_CENTRES = 0.5 * (ECAL_ETA_EDGES[:-1] + ECAL_ETA_EDGES[1:])
_PHI_CENTRES = 0.5 * (ECAL_PHI_EDGES[:-1] + ECAL_PHI_EDGES[1:])
_N_CRYSTALS = ECAL_N_ETA * ECAL_N_PHI
_N_TOWERS = HCAL_N_ETA * HCAL_N_PHI
_FLOAT_FIELDS = ("px", "py", "pz", "e", "charge", "vx", "vy", "vz")


def simulate(
    particles: np.ndarray,
    rng: np.random.Generator,
    params: DetectorParams = DEFAULT,
) -> DetectorResponse:
    """Detector response to the final-state ``particles`` of one event (seminar 2.3-2.4).

    ``particles``: structured array with at least :data:`REQUIRED_FIELDS` (momenta and energy
    in GeV, vertex in metres, charge in e). ``rng``: the only source of randomness. Particles
    outside the barrel, along the beam or not interacting are ignored silently. See the module
    docstring for the model; :func:`simulate_many` does many events at once.
    """
    particles = _check_particles(particles)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    start, columns = _concatenate([particles])
    return _simulate_concatenated(start, columns, rng, params)[0]


def simulate_many(
    events: Sequence[np.ndarray],
    rng: np.random.Generator,
    params: DetectorParams = DEFAULT,
) -> list[DetectorResponse]:
    """Detector responses to many events at once: ``[simulate(p, rng, params) for p in events]``
    in distribution, several times faster for blocks of tens of events.

    ``events``: a sequence (list, tuple) of particle arrays as for :func:`simulate` (momenta
    and energy in GeV, vertex in metres, charge in e); events without particles are allowed.
    The work is vectorised over all particles of all events, so the random numbers are shared
    out differently from per-event calls with the same ``rng``: the responses differ from
    theirs draw by draw, not in distribution. One event gives exactly :func:`simulate`'s
    response (the same draws in the same order).
    """
    if isinstance(events, np.ndarray) or not isinstance(events, Sequence):
        raise ValueError(
            "events must be a sequence (list or tuple) of particle arrays; got "
            f"{type(events).__name__} (for one event use simulate)"
        )
    for i, particles in enumerate(events):
        _check_event(i, particles, finite=False)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    if len(events) == 0:
        return []
    start, columns = _concatenate(events)
    # Finiteness on all events at once; the first event with a bad number says which.
    bad = np.zeros(int(start[-1]), dtype=bool)
    for name in REQUIRED_FIELDS:
        bad |= ~np.isfinite(columns[name])
    if bad.any():
        first_bad = int(np.searchsorted(start, np.argmax(bad), side="right")) - 1
        _check_event(first_bad, events[first_bad], finite=True)
    return _simulate_concatenated(start, columns, rng, params)


def _check_event(index: int, particles: np.ndarray, finite: bool) -> None:
    """:func:`_check_particles` for ``events[index]``, the index named in the error."""
    try:
        _check_particles(particles, finite)
    except ValueError as err:
        raise ValueError(f"events[{index}]: {err}") from None


def _concatenate(events: Sequence[np.ndarray]) -> tuple[NDArray[np.intp], dict[str, NDArray]]:
    """Row of each event's first particle in the concatenated events (and the total number of
    particles at the end), and the fields :data:`REQUIRED_FIELDS` of all events concatenated,
    as float64 but ``pdg_id``."""
    start = np.zeros(len(events) + 1, dtype=np.intp)
    np.cumsum(np.array([len(p) for p in events], dtype=np.intp), out=start[1:])
    if len(events) == 1:  # the same numbers, with less overhead
        columns = {k: events[0][k].astype(np.float64) for k in _FLOAT_FIELDS}
        columns["pdg_id"] = events[0]["pdg_id"]
        return start, columns
    columns = {k: np.concatenate([p[k] for p in events], dtype=np.float64) for k in _FLOAT_FIELDS}
    columns["pdg_id"] = np.concatenate([p["pdg_id"] for p in events])
    return start, columns


def _simulate_concatenated(
    start: NDArray[np.intp], columns: dict[str, NDArray], rng: np.random.Generator,
    params: DetectorParams,
) -> list[DetectorResponse]:
    """:func:`simulate_many` on the checked output of :func:`_concatenate`."""
    # Performance note: per event this does a few hundred numpy calls on a few hundred
    # particles, so for one event the cost is the number of calls more than their size; over a
    # block of events it is the arithmetic. The arithmetic is the same, operation by operation,
    # as in the straightforward formulation (coordinates.pt_eta_phi, ecal_index, np.select,
    # np.unique, ...) it replaces: the same seed gives the same response bit for bit
    # (benchmarks/bench_pipeline.py checks it against the original code). Every quantity is
    # per particle, or per (event, crystal) key, so the events do not mix.
    n_events = start.size - 1
    n = int(start[-1])
    event = np.repeat(np.arange(n_events, dtype=np.intp), np.diff(start))
    px, py, pz, energy, charge = (columns[k] for k in ("px", "py", "pz", "e", "charge"))
    aid = np.abs(columns["pdg_id"])

    # Random numbers, drawn in a fixed order and per particle for reproducibility.
    u_track = rng.random(n)
    u_interact = rng.random(n)

    # Kinematics at the vertex (particles along the beam get eta = +-inf and are ignored).
    pt = np.hypot(px, py)
    moving = (pt > 0) | (pz != 0)
    eta0 = np.full(n, np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if moving.all():
            eta0 = np.arcsinh(pz / pt)
        elif moving.any():
            eta0[moving] = np.arcsinh(pz[moving] / pt[moving])

    # Propagation to the ECAL face, impact point (eta, phi) and crystal of the barrel ones.
    reaches, x, y, z = _propagate(
        columns["vx"], columns["vy"], columns["vz"], px, py, pz, charge, pt,
        float(params.ecal_radius_m), params.b_field_t,
    )
    hit = np.flatnonzero(reaches)
    xr, yr, zr = x[hit], y[hit], z[hit]
    r_xy = np.hypot(xr, yr)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        eta_r = np.arcsinh(zr / r_xy)
    phi_r = np.where(r_xy > 0, _wrap(np.arctan2(yr, xr)), 0.0)
    in_barrel = np.abs(eta_r) <= ECAL_ETA_MAX
    hit, eta_b, phi_b = hit[in_barrel], eta_r[in_barrel], phi_r[in_barrel]
    barrel = np.zeros(n, dtype=bool)
    barrel[hit] = True
    impact_eta = np.full(n, np.nan)
    impact_phi = np.full(n, np.nan)
    impact_eta[hit] = eta_b
    impact_phi[hit] = phi_b
    ieta = np.zeros(n, dtype=np.intp)
    iphi = np.zeros(n, dtype=np.intp)
    ieta[hit] = np.minimum(np.searchsorted(ECAL_ETA_EDGES, eta_b, side="right") - 1, ECAL_N_ETA - 1)
    iphi[hit] = np.searchsorted(ECAL_PHI_EDGES, phi_b, side="right") - 1  # phi_b is in [-pi, pi)

    # Particle classes.
    em = (aid == _EM_IDS[0]) | (aid == _EM_IDS[1])
    muon = aid == _MUON_ID
    neutrino = (aid == _NEUTRINO_IDS[0]) | (aid == _NEUTRINO_IDS[1]) | (aid == _NEUTRINO_IDS[2])
    hadron = ~(em | muon | neutrino)
    charged = charge != 0

    # --- Tracker -----------------------------------------------------------------------
    tracked = (
        barrel & charged & (np.abs(eta0) < params.tracker_eta_max)
        & (pt > params.track_pt_min_gev) & (u_track < params.track_efficiency)
    )
    rel = np.hypot(params.track_res_const, params.track_res_slope_per_gev * pt)
    pt_meas = np.maximum(pt * (1.0 + rel * rng.standard_normal(n)), 0.0)

    # --- Energies per particle (true, then measured) ------------------------------------
    mip = params.ecal_mip_gev
    interacts = hadron & (u_interact < params.ecal_interaction_probability)
    share = params.hadron_ecal_share
    muon_hcal = params.muon_hcal_gev
    # np.select(conditions, choices, 0.0) as nested np.where: the first true condition wins.
    ecal_true = np.where(em, energy, np.where(muon, mip, np.where(
        interacts, share * energy, np.where(hadron & charged, np.minimum(mip, energy), 0.0))))
    hcal_true = np.where(muon, muon_hcal, np.where(hadron, energy - ecal_true, 0.0))
    ecal_true = np.where(barrel, ecal_true, 0.0)
    hcal_true = np.where(barrel, hcal_true, 0.0)

    e_em = _gaussian_smear(np.where(em & barrel, energy, 0.0),
                           params.ecal_stochastic, params.ecal_constant, rng)
    e_had = _gamma_smear(np.where(hadron & barrel, energy, 0.0),
                         params.hadron_stochastic, params.hadron_constant, rng)
    had_ecal = np.where(interacts, share * e_had, np.where(charged, np.minimum(mip, e_had), 0.0))
    ecal_meas = np.where(em, e_em, np.where(muon, mip, np.where(hadron, had_ecal, 0.0)))
    ecal_meas = np.where(barrel, ecal_meas, 0.0)
    hcal_meas = np.where(muon, muon_hcal, np.where(hadron, e_had - had_ecal, 0.0))
    hcal_meas = np.where(barrel, hcal_meas, 0.0)

    # --- ECAL: showers over windows, MIPs in one crystal ----------------------------------
    # The crystals of different events have different keys, event x 61200 + ieta x 360 + iphi.
    # An event's deposits come in the order of one-event simulation (its showers in particle
    # order, then its single-crystal deposits), so its crystal sums are the same numbers.
    deposit = barrel & (ecal_meas > 0)
    showers = deposit & (em | interacts)
    single = deposit & ~showers
    et = np.where(barrel, ecal_meas / np.cosh(np.where(barrel, impact_eta, 0.0)), 0.0)
    full = showers & (et > params.ecal_full_readout_et_gev)
    key, dep, flag = _shower_deposits(
        event[showers] * _N_CRYSTALS, ieta[showers], iphi[showers],
        impact_eta[showers], impact_phi[showers], ecal_meas[showers], full[showers], params,
    )
    if single.any():
        key = np.concatenate(
            [key, event[single] * _N_CRYSTALS + ieta[single] * ECAL_N_PHI + iphi[single]]
        )
        dep = np.concatenate([dep, ecal_meas[single]])
        flag = np.concatenate([flag, np.zeros(int(single.sum()), dtype=bool)])
    crystals, e_crystal, read_in_full = _sum_by_key(key, dep, flag)  # by (event, ieta, iphi)
    lost = int(np.searchsorted(crystals, 0))  # negative keys, beyond the barrel edge: no noise
    crystals, e_crystal, read_in_full = crystals[lost:], e_crystal[lost:], read_in_full[lost:]
    noise = rng.standard_normal(crystals.size)
    noise *= params.ecal_noise_gev
    e_crystal += noise  # in place: e_crystal is a fresh array
    keep = read_in_full | ((e_crystal >= params.ecal_zs_threshold_gev) & (e_crystal > 0))
    crystals, e_crystal = crystals[keep], e_crystal[keep]

    # --- HCAL: one tower per particle (the tower behind the ECAL crystal of its impact) ----
    in_hcal = np.flatnonzero(barrel & (hcal_meas > 0))
    towers, e_tower, _ = _sum_by_key(
        event[in_hcal] * _N_TOWERS
        + (ieta[in_hcal] // HCAL_TOWER_SIZE) * HCAL_N_PHI + iphi[in_hcal] // HCAL_TOWER_SIZE,
        hcal_meas[in_hcal], np.zeros(in_hcal.size, dtype=bool),
    )
    keep_t = e_tower > 0
    towers, e_tower = towers[keep_t], e_tower[keep_t]

    # --- One response per event: the hit arrays are sorted by event, cut them there --------
    tracks = np.flatnonzero(tracked)
    track_particle = tracks - start[event[tracks]]  # the row within its event
    track_ieta, track_iphi, track_pt = ieta[tracks], iphi[tracks], pt_meas[tracks]
    ecal_iphi = crystals % _N_CRYSTALS
    ecal_ieta = ecal_iphi // ECAL_N_PHI
    ecal_iphi %= ECAL_N_PHI
    tower = towers % _N_TOWERS
    hcal_ieta, hcal_iphi = tower // HCAL_N_PHI, tower % HCAL_N_PHI
    first_event = np.arange(n_events + 1)
    p0 = start.tolist()
    t0 = np.searchsorted(tracks, start).tolist()
    e0 = np.searchsorted(crystals, first_event * _N_CRYSTALS).tolist()
    h0 = np.searchsorted(towers, first_event * _N_TOWERS).tolist()
    responses = []
    for k in range(n_events):
        p, t = slice(p0[k], p0[k + 1]), slice(t0[k], t0[k + 1])
        e, h = slice(e0[k], e0[k + 1]), slice(h0[k], h0[k + 1])
        responses.append(DetectorResponse(
            track_ieta=track_ieta[t],
            track_iphi=track_iphi[t],
            track_pt=track_pt[t],
            track_particle=track_particle[t],
            ecal_ieta=ecal_ieta[e],
            ecal_iphi=ecal_iphi[e],
            ecal_energy=e_crystal[e],
            hcal_ieta=hcal_ieta[h],
            hcal_iphi=hcal_iphi[h],
            hcal_energy=e_tower[h],
            ecal_true=ecal_true[p],
            hcal_true=hcal_true[p],
            impact_eta=impact_eta[p],
            impact_phi=impact_phi[p],
        ))
    return responses


def _shower_deposits(
    key0: NDArray[np.intp], ieta: NDArray[np.intp], iphi: NDArray[np.intp],
    eta: NDArray, phi: NDArray, energy: NDArray, full: NDArray[np.bool_], params: DetectorParams,
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.bool_]]:
    """Crystal keys (``key0`` of the shower + ieta x 360 + iphi), energies and full-readout
    flags of the crystals of the showers' windows, shower by shower.

    Crystals beyond the barrel edge in eta get negative keys (their energy is lost); phi wraps.
    """
    h = params.shower_window // 2
    if ieta.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0, dtype=bool)
    # Offsets from the crystal centre in crystal units (coordinates.ecal_center, delta_phi).
    u_eta = (eta - _ETA_CENTRES[ieta]) / CRYSTAL_DETA
    d = phi - _PHI_CENTRES[iphi]
    size = np.abs(d)
    if (size < np.pi).all():  # the usual case: delta_phi's wrapping leaves d unchanged
        u_phi = np.where(d < 0, -size, size) / CRYSTAL_DPHI
    else:
        w = _wrap(size)
        w = np.where(d < 0, -w, w)
        u_phi = np.where(w >= np.pi, w - 2.0 * np.pi, w) / CRYSTAL_DPHI
    weights = shower_weights(u_eta, u_phi, params)
    weights *= energy[:, None, None]
    d = np.arange(-h, h + 1)
    rows = ieta[:, None] + d
    cols = np.mod(iphi[:, None] + d, ECAL_N_PHI)
    row_key = key0[:, None] + rows * ECAL_N_PHI
    row_key[(rows < 0) | (rows >= ECAL_N_ETA)] = -ECAL_N_PHI  # beyond the edge: keys -360..-1
    key = row_key[:, :, None] + cols[:, None, :]
    flags = np.repeat(full, key[0].size)  # the shower's flag for each crystal of its window
    return key.reshape(-1), weights.reshape(-1), flags
