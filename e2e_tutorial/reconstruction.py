"""Photon reconstruction on the event image and the diphoton selection of the study.

This is the course's simple, documented stand-in for the traditional workflow of seminar
section 2.4 ("particle-flow reconstruction"), restricted to what the analysis of seminar
section 5 needs: photon candidates from ECAL clusters, and the event selection of Andrews et
al. (2020), study.md section 2. Everything works on the full-resolution event image of
:func:`e2e_tutorial.images.event_image`: a (3, 170, 360) array, channels [sum of track pT,
ECAL energy, HCAL energy] in GeV, rows ieta, columns iphi (see
:mod:`e2e_tutorial.coordinates`). Units: GeV and radians.

Photon candidates (:func:`photon_candidates`)
---------------------------------------------
* **Seeds** (:func:`find_seeds`): crystals whose ECAL energy is the maximum of their 3 x 3
  neighbourhood (phi wraps around the seam at +-pi, eta does not: rows beyond the barrel
  edge count as empty) and whose transverse energy E_seed / cosh(eta of the crystal centre)
  is above ``SEED_ET_MIN = 1 GeV``. That is 25 times the 40 MeV crystal noise, so noise never
  seeds, and above the 0.235 GeV a minimum-ionising particle leaves. An exact tie between
  neighbours is broken deterministically (the neighbour earlier in (ieta, iphi) order wins),
  so a plateau gives one seed, not two.
* **Energy**: ``e5x5`` is the plain sum of the 5 x 5 crystals around the seed (the classic
  CMS choice). Showers above 5 GeV of ET are read out in full by the detector model, so the
  window holds small negative noise values too; they are summed as they are, which keeps the
  sum unbiased. Crystals beyond the barrel edge in eta count as zero. The 5 x 5 window holds
  :data:`CONTAINMENT_5X5` (97.2%) of a photon's energy in the detector model (computed from
  :func:`e2e_tutorial.detector.shower_weights`), so the candidate's ``energy`` is
  ``e5x5 / CONTAINMENT_5X5``: a Monte-Carlo containment correction, like the cluster
  corrections CMS applies. Without it the Higgs peak would sit near 121.5 GeV.
* **Position**: energy-weighted mean of the crystal centres over the 3 x 3 around the seed
  (negative noise values get weight 0). In phi the mean is taken over column offsets from the
  seed and then wrapped into [-pi, pi), so a cluster across the seam is handled like any other.
  CMS uses logarithmic weights (W0 = 4.7); for this detector model's narrow shower core the
  linear weights are closer to the truth (noise-free rms residual 0.056 crystal against 0.086
  for log weights, over impact points spread uniformly in the crystal). No depth correction.
* **Kinematics**: a massless candidate from the vertex at the origin: pT = energy / cosh(eta).
* **Shower shapes**: ``e_seed``, ``e3x3``, ``e5x5`` (raw sums, GeV), ``r9 = e3x3 / e5x5``
  (CMS's R9 divides by the supercluster energy; we have no superclusters), and
  ``sigma_ieta_ieta`` / ``sigma_iphi_iphi``: the spread of the 5 x 5 crystals around their
  mean, with CMS's logarithmic weights max(0, 4.7 + ln(E_i / e5x5)), in units of eta (radians
  for phi; one crystal = 0.01745). Noise and faraway crystals get weight 0.
* **H/E**: HCAL energy of the towers behind the 5 x 5 window (one, two or four towers of
  5 x 5 crystals each) divided by ``energy``. Each tower is read **once**: with the study's
  default ``hcal="copy"`` images every crystal of a tower holds the *whole* tower energy, so
  summing the 25 crystals would count it 25 times. Pass ``hcal="share"`` for images made with
  ``event_image(..., hcal="share")`` (each crystal holds a 25th; the tower is their sum).
* **Isolation**: ``track_iso`` and ``ecal_iso`` sum the track and the ECAL channel over the
  crystals whose centres lie within Delta R < ``ISO_CONE = 0.3`` of the candidate, excluding
  a square veto region around the seed (the candidate's own footprint, like CMS's inner
  cones): for tracks the 5 x 5 window (|Delta ieta|, |Delta iphi| <= ``TRACK_ISO_VETO = 2``
  crystals, about 0.035-0.05 in Delta R); for the ECAL the 9 x 9 window
  (``ECAL_ISO_VETO = 4`` crystals, about 0.07), the whole extent of the detector model's EM
  shower: with only the 5 x 5 vetoed, the 2.8% of a photon's energy outside it (1-2 GeV for
  the Higgs photons) would count as "isolation". ``ecal_iso`` includes noise, negative values
  too.
* Candidates are sorted by pT, highest first. Clusters of nearby seeds may share crystals
  (seeds three or four crystals apart): the shared energy is counted in each, there is no
  energy sharing between clusters and no merging into superclusters.

Event selection (:func:`select_diphoton`), study.md section 2
-----------------------------------------------------------
Exactly two candidates with pT > 20 GeV and |eta| < 1.44 (candidates failing these cuts are
not counted; a third one passing them rejects the event); m_gammagamma > 90 GeV; leading pT >
m_gammagamma / 3; subleading pT > m_gammagamma / 4. All inequalities strict. The study's
open-data version applied no photon identification, and neither does the default here.
``preselection=True`` adds a loose photon identification (:func:`passes_loose_id`: H/E,
track- and ECAL-isolation cuts) to the candidates that count; it is off by default and exists
so that the book can show what it does to the gamma+jet background.

One event or many
-----------------
:func:`reconstruct_event` takes one dense image; :func:`reconstruct_many` takes the sparse
pixels of many events at once (:class:`e2e_tutorial.images.SparseImages`, as
:func:`e2e_tutorial.images.sparse_images` makes them and datasets store them) and returns a
:class:`RecoBatch` of arrays over the events. Both run the same code, which reads only the
non-zero pixels (binary search in their sorted indices): event by event the results are
identical, and the dataset generator reconstructs a batch of events per call instead of paying numpy's
per-call overhead for each event.

Public API: :data:`PHOTON_DTYPE`, :data:`FEATURE_NAMES`, the thresholds below,
:func:`containment_5x5`, :func:`find_seeds`, :func:`photon_candidates`, :func:`passes_loose_id`,
:func:`select_diphoton`, :func:`diphoton_mass`, :func:`kinematic_features`,
:class:`EventReco`, :func:`reconstruct_event`, :class:`RecoBatch`, :func:`reconstruct_many`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from e2e_tutorial.coordinates import (
    CRYSTAL_DETA,
    CRYSTAL_DPHI,
    ECAL_N_ETA,
    ECAL_N_PHI,
    HCAL_TOWER_SIZE,
    _wrap,
    ecal_center,
    wrap_phi,
)
from e2e_tutorial.detector import DEFAULT, DetectorParams, shower_weights
from e2e_tutorial.images import IMAGE_SHAPE, IMAGE_SIZE, SparseImages

__all__ = [
    "PHOTON_DTYPE",
    "FEATURE_NAMES",
    "SEED_ET_MIN",
    "CLUSTER_WINDOW",
    "POSITION_WINDOW",
    "LOG_WEIGHT_W0",
    "CONTAINMENT_5X5",
    "ISO_CONE",
    "TRACK_ISO_VETO",
    "ECAL_ISO_VETO",
    "PT_MIN",
    "ETA_MAX",
    "MASS_MIN",
    "LEAD_PT_OVER_M",
    "SUBLEAD_PT_OVER_M",
    "LOOSE_H_OVER_E_MAX",
    "LOOSE_TRACK_ISO_MAX",
    "LOOSE_ECAL_ISO_MAX",
    "containment_5x5",
    "find_seeds",
    "photon_candidates",
    "passes_loose_id",
    "select_diphoton",
    "diphoton_mass",
    "kinematic_features",
    "EventReco",
    "reconstruct_event",
    "RecoBatch",
    "reconstruct_many",
]

# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------

#: One photon candidate. Energies in GeV, angles in radians; ``ieta``, ``iphi`` = seed crystal.
PHOTON_DTYPE = np.dtype(
    [
        ("energy", "f8"),  # e5x5 / CONTAINMENT_5X5
        ("pt", "f8"),  # energy / cosh(eta)
        ("eta", "f8"),
        ("phi", "f8"),  # in [-pi, pi)
        ("ieta", "i4"),
        ("iphi", "i4"),
        ("e_seed", "f8"),
        ("e3x3", "f8"),
        ("e5x5", "f8"),
        ("r9", "f8"),  # e3x3 / e5x5
        ("sigma_ieta_ieta", "f8"),  # eta units
        ("sigma_iphi_iphi", "f8"),  # radians
        ("hcal_energy", "f8"),  # towers behind the 5 x 5 window
        ("h_over_e", "f8"),  # hcal_energy / energy
        ("track_iso", "f8"),  # sum track pT, Delta R < 0.3 outside the 5 x 5 window
        ("ecal_iso", "f8"),  # sum ECAL energy, Delta R < 0.3 outside the 9 x 9 window
    ]
)

#: The 5 inputs of the kinematic baseline classifier (study.md section 2), in order.
FEATURE_NAMES = ("pt1_over_m", "eta1", "pt2_over_m", "eta2", "cos_dphi")

#: Seeds need a transverse energy above this in their crystal, GeV (25 x the crystal noise).
SEED_ET_MIN = 1.0
#: Crystals per side of the window summed for the energy (the classic CMS 5 x 5).
CLUSTER_WINDOW = 5
#: Crystals per side of the window used for the position (3 x 3, energy weights).
POSITION_WINDOW = 3
#: W0 of CMS's logarithmic weights max(0, W0 + ln(E_i / E)), used for sigma_ieta_ieta.
LOG_WEIGHT_W0 = 4.7
#: Isolation cone, Delta R.
ISO_CONE = 0.3
#: Half-width (crystals) of the square around the seed left out of the track isolation (5 x 5).
TRACK_ISO_VETO = 2
#: Half-width (crystals) of the square left out of the ECAL isolation (9 x 9: the whole shower).
ECAL_ISO_VETO = 4

#: Selection (study.md section 2): photon pT > PT_MIN GeV and |eta| < ETA_MAX ...
PT_MIN = 20.0
ETA_MAX = 1.44
#: ... m_gammagamma > MASS_MIN GeV, leading pT > m / 3, subleading pT > m / 4.
MASS_MIN = 90.0
LEAD_PT_OVER_M = 1.0 / 3.0
SUBLEAD_PT_OVER_M = 1.0 / 4.0

#: Loose photon identification (``preselection=True`` only; not in the study): H/E below ...
LOOSE_H_OVER_E_MAX = 0.1
#: ... track isolation below this, GeV ...
LOOSE_TRACK_ISO_MAX = 5.0
#: ... and ECAL isolation below this, GeV.
LOOSE_ECAL_ISO_MAX = 5.0

_HALF_CLUSTER = CLUSTER_WINDOW // 2
_HALF_POSITION = POSITION_WINDOW // 2
_HALF_ISO = int(np.ceil(ISO_CONE / CRYSTAL_DPHI))  # 18 crystals cover the cone
#: Eta of every row's centre (170 values).
_ROW_ETA = np.asarray(ecal_center(np.arange(ECAL_N_ETA), 0)[0])
#: Phi of every column's centre (360 values).
_COL_PHI = np.asarray(ecal_center(0, np.arange(ECAL_N_PHI))[1])
#: cosh of every row's eta (the seed threshold is on E / cosh(eta)).
_COSH_ROW_ETA = np.cosh(_ROW_ETA)


def containment_5x5(params: DetectorParams = DEFAULT, n_points: int = 20) -> float:
    """Mean fraction of a photon's ECAL energy inside the 5 x 5 crystals around its impact
    crystal, for impact points spread uniformly over the crystal (a grid of n_points^2).

    Computed from :func:`e2e_tutorial.detector.shower_weights` (the detector model's EM
    profile, normalised to its shower window): 0.972 for the default parameters, varying by
    less than 0.1% across the crystal.
    """
    if params.shower_window < CLUSTER_WINDOW:
        raise ValueError(
            f"params.shower_window must be >= {CLUSTER_WINDOW} crystals; got {params.shower_window}"
        )
    u = (np.arange(n_points) + 0.5) / n_points - 0.5
    u_eta, u_phi = np.meshgrid(u, u, indexing="ij")
    w = shower_weights(u_eta.ravel(), u_phi.ravel(), params)
    c = params.shower_window // 2
    inside = slice(c - _HALF_CLUSTER, c + _HALF_CLUSTER + 1)
    inner = w[:, inside, inside]
    return float(inner.sum(axis=(1, 2)).mean())


#: Fraction of a photon's energy in its 5 x 5 window (default detector): the energy scale.
CONTAINMENT_5X5 = containment_5x5()

# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _sparse_of(image: NDArray) -> tuple[NDArray[np.int64], NDArray, NDArray[np.int64], NDArray[np.int64]]:
    """The non-zero pixels of one checked event image as one sparse event: (pixel keys as
    :func:`_pixel_keys` gives them, values in the image's own dtype, or float64 for wider
    types, event of each pixel (0), offsets [0, n]). ValueError
    names a wrong shape, a dtype that is not numbers, or the first non-finite pixel (NaN and
    inf are non-zero, so looking at the non-zero pixels finds them all)."""
    arr = np.asarray(image)
    if arr.shape != IMAGE_SHAPE:
        raise ValueError(
            f"image must be a full-resolution event image of shape {IMAGE_SHAPE} "
            f"(channels tracks, ECAL, HCAL); got shape {arr.shape}"
        )
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"image must hold numbers (GeV); got dtype {arr.dtype}")
    flat = arr.reshape(-1)
    pix = np.flatnonzero(flat != 0)  # the same as flatnonzero(flat) (NaN counts), faster for floats
    vals = flat[pix]
    # Integers, float16, float32 and float64 convert to float64 exactly (finite stays finite);
    # wider types (longdouble may overflow) are converted first, and checked as converted.
    if vals.dtype.kind == "f" and vals.dtype.itemsize > 8:
        vals = vals.astype(np.float64)
    if vals.dtype.kind == "f" and not np.isfinite(vals).all():
        k = int(np.argmax(~np.isfinite(vals)))
        c, i, j = np.unravel_index(pix[k], IMAGE_SHAPE)
        raise ValueError(f"image must be finite; got {vals[k]!r} at channel {c}, ieta {i}, iphi {j}")
    offsets = np.array([0, pix.size], dtype=np.int64)
    key, event = _pixel_keys(pix, offsets)
    return key, vals, event, offsets


def _check_hcal_mode(hcal: str) -> None:
    if hcal not in ("copy", "share"):
        raise ValueError(f"hcal must be 'copy' or 'share' (as in images.event_image); got {hcal!r}")


def _check_photons(photons: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    if not isinstance(photons, np.ndarray) or photons.dtype.names is None or photons.ndim != 1:
        raise ValueError(
            "photons must be a 1-D numpy structured array of PHOTON_DTYPE; got "
            f"{type(photons).__name__} of dtype {getattr(photons, 'dtype', None)} and shape "
            f"{getattr(photons, 'shape', None)}"
        )
    missing = [f for f in fields if f not in photons.dtype.names]
    if missing:
        raise ValueError(f"photons lack the field(s) {missing}; expected those of PHOTON_DTYPE")
    return photons


def _check_pair(photons: np.ndarray, pair: tuple[int, int]) -> tuple[int, int]:
    _check_photons(photons, ("pt", "eta", "phi"))
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2
    ok = ok and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in pair)
    if not ok:
        raise ValueError(f"pair must be a tuple of two integer indices into photons; got {pair!r}")
    i, j = int(pair[0]), int(pair[1])
    n = len(photons)
    if not (0 <= i < n and 0 <= j < n) or i == j:
        raise ValueError(
            f"pair must hold two different indices in [0, {n - 1}] (photons has {n} rows); "
            f"got {pair!r}"
        )
    return i, j


# ---------------------------------------------------------------------------------------------
# Seeds and windows, on sparse pixels of many events at once
# ---------------------------------------------------------------------------------------------
#
# Everything below works on the non-zero pixels of a batch of images (images.SparseImages):
# ``key`` = event x IMAGE_SIZE + flat pixel index, increasing, and ``vals`` the pixel values in
# any real dtype. A pixel (channel, ieta, iphi) of event e is found by binary search of its key;
# missing pixels are zero. Values are converted to float64 as they are read, which gives the
# same numbers as converting the whole image first.

_CH = ECAL_N_ETA * ECAL_N_PHI  # pixels per channel


def _read(key: NDArray[np.int64], vals: NDArray, query: NDArray[np.int64]) -> NDArray[np.float64]:
    """Values (float64) of the pixels with keys ``query``; 0.0 where a pixel is absent."""
    if key.size == 0:
        return np.zeros(query.shape)
    pos = np.minimum(np.searchsorted(key, query), key.size - 1)
    return np.where(key[pos] == query, vals[pos].astype(np.float64), 0.0)


def find_seeds(
    ecal: NDArray, et_min: float = SEED_ET_MIN
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Seed crystals (ieta, iphi) of an ECAL channel (170, 360) in GeV: local maxima of the
    3 x 3 neighbourhood (phi wraps, eta does not) with E / cosh(eta) > ``et_min`` GeV.

    A seed must be >= all its 8 neighbours and strictly > the 4 that come before it in
    (ieta, iphi) order, so an exact tie gives one seed. Sorted by (ieta, iphi).
    """
    ecal = np.asarray(ecal, dtype=np.float64)
    if ecal.shape != IMAGE_SHAPE[1:]:
        raise ValueError(f"ecal must have shape {IMAGE_SHAPE[1:]}; got shape {ecal.shape}")
    _check_et_min(et_min)
    flat = ecal.reshape(-1)
    pix = np.flatnonzero(flat != 0)  # the same as flatnonzero(flat) (NaN counts), faster for floats
    _, ieta, iphi = _seeds(_CH + pix, flat[pix], np.zeros(pix.size, dtype=np.int64), et_min)
    return ieta, iphi


def _check_et_min(et_min: float) -> None:
    if not np.isfinite(et_min) or et_min < 0:
        raise ValueError(f"et_min must be a finite number >= 0 GeV; got {et_min!r}")


#: The 8 neighbours of a crystal (row offset, column offset), and whether each comes before it
#: in (ieta, iphi) order (a seed must be strictly above those, >= the others).
_NEIGHBOURS = [(deta, dphi) for deta in (-1, 0, 1) for dphi in (-1, 0, 1) if (deta, dphi) != (0, 0)]
_NB_DETA = np.array([d[0] for d in _NEIGHBOURS], dtype=np.intp)
_NB_DPHI = np.array([d[1] for d in _NEIGHBOURS], dtype=np.intp)
_NB_BEFORE = np.array([deta < 0 or (deta == 0 and dphi < 0) for deta, dphi in _NEIGHBOURS])


def _seeds(
    key: NDArray[np.int64], vals: NDArray, event: NDArray[np.int64], et_min: float
) -> tuple[NDArray[np.int64], NDArray[np.intp], NDArray[np.intp]]:
    """(event, ieta, iphi) of the seeds of all events, sorted by (event, ieta, iphi).

    ``event`` is the event of every pixel. Only crystals with positive ECAL energy can be
    seeds (E / cosh(eta) > et_min >= 0); each is compared with its 8 neighbours (-inf beyond
    the barrel edge in eta), the same answer as comparing a whole channel with its 8 shifted
    copies.
    """
    pix = key - event * IMAGE_SIZE
    cand = np.flatnonzero((pix >= _CH) & (pix < 2 * _CH) & (vals > 0))
    rows, cols = np.divmod(pix[cand] - _CH, ECAL_N_PHI)
    e = vals[cand].astype(np.float64)
    ok = e / _COSH_ROW_ETA[rows] > et_min
    cand, rows, cols, e = cand[ok], rows[ok], cols[ok], e[ok]
    ev = event[cand]
    nb_rows = rows[:, None] + _NB_DETA
    nb_cols = np.mod(cols[:, None] + _NB_DPHI, ECAL_N_PHI)
    inside = (nb_rows >= 0) & (nb_rows < ECAL_N_ETA)
    query = (ev * IMAGE_SIZE + _CH)[:, None] + np.clip(nb_rows, 0, ECAL_N_ETA - 1) * ECAL_N_PHI + nb_cols
    other = np.where(inside, _read(key, vals, query), -np.inf)
    is_max = np.where(_NB_BEFORE, e[:, None] > other, e[:, None] >= other).all(axis=1)
    return ev[is_max], rows[is_max].astype(np.intp), cols[is_max].astype(np.intp)


def _window(
    key: NDArray[np.int64], vals: NDArray, channel_start: NDArray[np.int64],
    ieta: NDArray, iphi: NDArray, half: int,
) -> NDArray[np.float64]:
    """(n, 2 half + 1, 2 half + 1) crystals around each (ieta, iphi) as float64, of the channel
    whose first pixel has key ``channel_start`` (per seed); phi wraps, rows beyond the barrel
    edge are zero."""
    d = np.arange(-half, half + 1)
    rows = ieta[:, None] + d
    cols = np.mod(iphi[:, None] + d, ECAL_N_PHI)
    inside = (rows >= 0) & (rows < ECAL_N_ETA)
    flat = np.clip(rows, 0, ECAL_N_ETA - 1)[:, :, None] * ECAL_N_PHI + cols[:, None, :]
    return _read(key, vals, channel_start[:, None, None] + flat) * inside[:, :, None]


def _central(win: NDArray, half: int) -> NDArray:
    """The central (2 half + 1)^2 crystals of (n, w, w) windows."""
    c = win.shape[1] // 2
    return win[:, c - half : c + half + 1, c - half : c + half + 1]


def _log_spread(win: NDArray, total: NDArray) -> tuple[NDArray, NDArray]:
    """sigma_ieta_ieta and sigma_iphi_iphi (crystal units) of (n, w, w) windows, CMS log weights."""
    half = win.shape[1] // 2
    d = np.arange(-half, half + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.maximum(0.0, LOG_WEIGHT_W0 + np.log(np.maximum(win, 0.0) / total[:, None, None]))
    w = np.where(np.isfinite(w), w, 0.0)
    norm = np.maximum(w.sum(axis=(1, 2)), 1e-300)
    w_eta, w_phi = w.sum(axis=2), w.sum(axis=1)
    out = []
    for wd in (w_eta, w_phi):
        mean = (wd * d).sum(axis=1) / norm
        out.append(np.sqrt(np.maximum((wd * (d - mean[:, None]) ** 2).sum(axis=1) / norm, 0.0)))
    return out[0], out[1]


def _tower_energy(
    key: NDArray[np.int64], vals: NDArray, hcal_start: NDArray[np.int64],
    ieta: NDArray, iphi: NDArray, mode: str,
) -> NDArray[np.float64]:
    """HCAL energy (GeV) of the 1, 2 or 4 towers that the 5 x 5 window around each seed
    touches, each tower read once: one crystal of it ("copy": each holds the whole tower) or
    the sum of its 25 ("share": each holds a 25th)."""
    k = HCAL_TOWER_SIZE
    inner = np.arange(k) if mode == "share" else np.zeros(1, dtype=np.intp)

    def tower(t: NDArray, s: NDArray) -> NDArray[np.float64]:
        rows = (k * t)[:, None, None] + inner[None, :, None]
        cols = (k * s)[:, None, None] + inner[None, None, :]
        return _read(key, vals, hcal_start[:, None, None] + rows * ECAL_N_PHI + cols).sum(axis=(1, 2))

    t_lo = np.clip(ieta - _HALF_CLUSTER, 0, ECAL_N_ETA - 1) // k
    t_hi = np.clip(ieta + _HALF_CLUSTER, 0, ECAL_N_ETA - 1) // k
    s_lo = np.mod(iphi - _HALF_CLUSTER, ECAL_N_PHI) // k
    s_hi = np.mod(iphi + _HALF_CLUSTER, ECAL_N_PHI) // k
    two_rows, two_cols = t_hi != t_lo, s_hi != s_lo
    return (
        tower(t_lo, s_lo)
        + np.where(two_rows, tower(t_hi, s_lo), 0.0)
        + np.where(two_cols, tower(t_lo, s_hi), 0.0)
        + np.where(two_rows & two_cols, tower(t_hi, s_hi), 0.0)
    )


def _delta_phi(phi1: NDArray, phi2: NDArray) -> NDArray[np.float64]:
    """coordinates.delta_phi for finite float64 arrays, without its checks (same numbers):
    when no difference reaches pi (the usual case) the wrapping steps leave it unchanged."""
    diff = phi1 - phi2
    size = np.abs(diff)
    if (size < np.pi).all():
        return np.where(diff < 0, -size, size)
    w = _wrap(size)
    w = np.where(diff < 0, -w, w)
    return np.where(w >= np.pi, w - 2.0 * np.pi, w)


def _isolation(
    key: NDArray[np.int64], vals: NDArray, event: NDArray[np.int64],
    seed_event: NDArray[np.int64], ieta: NDArray, iphi: NDArray, eta: NDArray, phi: NDArray,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Track and ECAL isolation (GeV) of each candidate: the sum of the track (channel 0) and
    ECAL (channel 1) pixels of its event whose crystal centres lie within Delta R < ISO_CONE
    of (eta, phi), outside the (2 veto + 1)^2 crystals around the seed (ieta, iphi), with
    veto = TRACK_ISO_VETO and ECAL_ISO_VETO. Phi wraps.

    The pixels of rows ieta - _HALF_ISO ... ieta + _HALF_ISO of a channel are one run of the
    sorted keys (found by binary search); each candidate is paired with those, and the ones
    within _HALF_ISO columns and inside the cone are summed.
    """
    n = seed_event.size
    sums = []
    for channel, veto in ((0, TRACK_ISO_VETO), (1, ECAL_ISO_VETO)):
        base = seed_event * IMAGE_SIZE + channel * _CH
        lo = np.searchsorted(key, base + np.maximum(ieta - _HALF_ISO, 0) * ECAL_N_PHI)
        hi = np.searchsorted(key, base + (np.minimum(ieta + _HALF_ISO, ECAL_N_ETA - 1) + 1) * ECAL_N_PHI)
        count = hi - lo
        owner = np.repeat(np.arange(n), count)
        pos = np.repeat(lo - (np.cumsum(count) - count), count) + np.arange(owner.size)
        rows, cols = np.divmod(key[pos] - event[pos] * IMAGE_SIZE - channel * _CH, ECAL_N_PHI)
        d_row = np.abs(rows - ieta[owner])
        d_col = np.abs(cols - iphi[owner])
        d_col = np.minimum(d_col, ECAL_N_PHI - d_col)  # phi wraps
        near = np.flatnonzero(d_col <= _HALF_ISO)
        owner, pos, rows, cols = owner[near], pos[near], rows[near], cols[near]
        deta = _ROW_ETA[rows] - eta[owner]
        dphi = _delta_phi(_COL_PHI[cols], phi[owner])
        use = (deta * deta + dphi * dphi < ISO_CONE**2) & ~((d_row[near] <= veto) & (d_col[near] <= veto))
        sums.append(np.bincount(owner, weights=np.where(use, vals[pos].astype(np.float64), 0.0), minlength=n))
    return sums[0], sums[1]


# ---------------------------------------------------------------------------------------------
# Photon candidates
# ---------------------------------------------------------------------------------------------


def _pixel_keys(indices: NDArray, offsets: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(key, event) of every pixel of sparse images: key = event x IMAGE_SIZE + index."""
    event = np.repeat(np.arange(offsets.size - 1, dtype=np.int64), np.diff(offsets))
    return event * IMAGE_SIZE + indices.astype(np.int64), event


def _candidates(
    key: NDArray[np.int64], vals: NDArray, event: NDArray[np.int64], offsets: NDArray[np.int64],
    hcal: str,
) -> tuple[np.ndarray, NDArray[np.int64]]:
    """Photon candidates of sparse images (pixel keys from :func:`_pixel_keys`, increasing,
    values ``vals``, event k owning ``offsets[k]:offsets[k + 1]``): all events' candidates
    (PHOTON_DTYPE), event by event, by decreasing pT within each, and the offsets of each
    event's candidates."""
    n_events = offsets.size - 1
    seed_event, ieta, iphi = _seeds(key, vals, event, SEED_ET_MIN)
    n = ieta.size
    out = np.zeros(n, dtype=PHOTON_DTYPE)
    counts = np.bincount(seed_event, minlength=n_events)
    photon_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if n == 0:
        return out, photon_offsets

    start = seed_event * IMAGE_SIZE  # key of pixel 0 of each seed's event
    win5 = _window(key, vals, start + _CH, ieta, iphi, _HALF_CLUSTER)
    win3 = _central(win5, _HALF_POSITION)
    e5x5 = win5.sum(axis=(1, 2))
    e3x3 = win3.sum(axis=(1, 2))
    e_seed = win5[:, _HALF_CLUSTER, _HALF_CLUSTER]

    # Position: energy-weighted offsets (crystal units) over the 3 x 3, negative noise -> 0.
    w = np.maximum(win3, 0.0)
    d = np.arange(-_HALF_POSITION, _HALF_POSITION + 1, dtype=np.float64)
    norm = w.sum(axis=(1, 2))  # >= e_seed > 0
    off_eta = (w.sum(axis=2) * d).sum(axis=1) / norm
    off_phi = (w.sum(axis=1) * d).sum(axis=1) / norm
    eta = _ROW_ETA[ieta] + off_eta * CRYSTAL_DETA
    phi = _COL_PHI[iphi] + off_phi * CRYSTAL_DPHI
    phi = _wrap(phi) if np.isfinite(phi).all() else np.asarray(wrap_phi(phi))  # wrap_phi raises

    energy = e5x5 / CONTAINMENT_5X5
    s_eta, s_phi = _log_spread(win5, e5x5)
    hcal_e = _tower_energy(key, vals, start + 2 * _CH, ieta, iphi, hcal)

    out["energy"] = energy
    out["pt"] = energy / np.cosh(eta)
    out["eta"] = eta
    out["phi"] = phi
    out["ieta"] = ieta
    out["iphi"] = iphi
    out["e_seed"] = e_seed
    out["e3x3"] = e3x3
    out["e5x5"] = e5x5
    out["r9"] = e3x3 / e5x5
    out["sigma_ieta_ieta"] = s_eta * CRYSTAL_DETA
    out["sigma_iphi_iphi"] = s_phi * CRYSTAL_DPHI
    out["hcal_energy"] = hcal_e
    out["h_over_e"] = hcal_e / energy
    out["track_iso"], out["ecal_iso"] = _isolation(key, vals, event, seed_event, ieta, iphi, eta, phi)
    return out[np.lexsort((-out["pt"], seed_event))], photon_offsets


def photon_candidates(
    image: NDArray, *, hcal: Literal["copy", "share"] = "copy"
) -> np.ndarray:
    """Photon candidates of a (3, 170, 360) event image (GeV), a :data:`PHOTON_DTYPE` array
    sorted by pT, highest first. See the module docstring for every definition.

    ``hcal`` says how the image's HCAL channel was filled (``images.event_image``'s argument):
    "copy" (default, the study's) or "share".
    """
    _check_hcal_mode(hcal)
    return _candidates(*_sparse_of(image), hcal)[0]


# ---------------------------------------------------------------------------------------------
# Selection and features (study.md section 2)
# ---------------------------------------------------------------------------------------------


def passes_loose_id(photons: np.ndarray) -> NDArray[np.bool_]:
    """Loose photon identification, per candidate: H/E < 0.1, track isolation < 5 GeV, ECAL
    isolation < 5 GeV (``LOOSE_*`` constants). Not part of the study; see
    :func:`select_diphoton`."""
    p = _check_photons(photons, ("h_over_e", "track_iso", "ecal_iso"))
    return (
        (p["h_over_e"] < LOOSE_H_OVER_E_MAX)
        & (p["track_iso"] < LOOSE_TRACK_ISO_MAX)
        & (p["ecal_iso"] < LOOSE_ECAL_ISO_MAX)
    )


def _pair_mass(
    pt1: NDArray, eta1: NDArray, phi1: NDArray, pt2: NDArray, eta2: NDArray, phi2: NDArray
) -> NDArray:
    """Invariant mass (GeV) of two massless particles:
    m^2 = 2 pT1 pT2 (cosh(eta1 - eta2) - cos(phi1 - phi2))."""
    m2 = 2.0 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(phi1 - phi2))
    return np.sqrt(np.maximum(m2, 0.0))


def diphoton_mass(photons: np.ndarray, pair: tuple[int, int]) -> float:
    """Invariant mass m_gammagamma (GeV) of the two candidates ``pair`` (indices into
    ``photons``), treated as massless."""
    i, j = _check_pair(photons, pair)
    a, b = photons[[i]], photons[[j]]
    return float(_pair_mass(a["pt"], a["eta"], a["phi"], b["pt"], b["eta"], b["phi"])[0])


def _select(
    photons: np.ndarray, offsets: NDArray[np.int64], preselection: bool
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The study's selection in every event at once: the (n, 2) global indices (leading,
    subleading) of each event's selected pair into ``photons`` (-1 where the event fails) and
    m_gammagamma (NaN where it fails). Each event's candidates must be sorted by decreasing
    pT (as :func:`photon_candidates` gives them), so that its first two good ones are the
    leading and the subleading."""
    n_events = offsets.size - 1
    good = (photons["pt"] > PT_MIN) & (np.abs(photons["eta"]) < ETA_MAX)
    if preselection:
        good &= passes_loose_id(photons)
    idx = np.flatnonzero(good)
    event = np.searchsorted(offsets, idx, side="right") - 1
    n_good = np.bincount(event, minlength=n_events)
    pair = np.full((n_events, 2), -1, dtype=np.int64)
    mass = np.full(n_events, np.nan)
    two = n_good[event] == 2
    first = idx[two][0::2]  # the two good candidates of an event are adjacent in idx
    second = idx[two][1::2]
    ev = event[two][0::2]
    a, b = photons[first], photons[second]
    m = _pair_mass(a["pt"], a["eta"], a["phi"], b["pt"], b["eta"], b["phi"])
    passes = (m > MASS_MIN) & (a["pt"] > LEAD_PT_OVER_M * m) & (b["pt"] > SUBLEAD_PT_OVER_M * m)
    pair[ev[passes], 0] = first[passes]
    pair[ev[passes], 1] = second[passes]
    mass[ev[passes]] = m[passes]
    return pair, mass


def _sorted_by_pt(photons: np.ndarray) -> bool:
    return bool(np.all(photons["pt"][1:] <= photons["pt"][:-1]))


def select_diphoton(photons: np.ndarray, *, preselection: bool = False) -> tuple[int, int] | None:
    """The study's diphoton selection (study.md section 2): the indices (leading, subleading)
    of the selected pair in ``photons``, or None if the event fails.

    Counts the candidates with pT > 20 GeV and |eta| < 1.44 (with ``preselection=True`` also
    passing :func:`passes_loose_id`; default off, as in the study's open-data version) and
    requires exactly two; then m_gammagamma > 90 GeV, leading pT > m / 3 and subleading
    pT > m / 4. ``photons`` need not be sorted.
    """
    p = _check_photons(photons, ("pt", "eta", "phi"))
    order = np.arange(len(p)) if _sorted_by_pt(p) else np.argsort(-p["pt"], kind="stable")
    pair, _ = _select(p[order], np.array([0, len(p)], dtype=np.int64), preselection)
    if pair[0, 0] < 0:
        return None
    return int(order[pair[0, 0]]), int(order[pair[0, 1]])


def _features(a: np.ndarray, b: np.ndarray, m: NDArray) -> NDArray[np.float32]:
    """(n, 5) float32 [pT1 / m, eta1, pT2 / m, eta2, cos(phi1 - phi2)] of pairs (a, b)."""
    return np.stack(
        [a["pt"] / m, a["eta"], b["pt"] / m, b["eta"], np.cos(a["phi"] - b["phi"])], axis=-1
    ).astype(np.float32)


def kinematic_features(photons: np.ndarray, pair: tuple[int, int]) -> NDArray[np.float32]:
    """The kinematic baseline's inputs (study.md section 2), float32 of shape (5,):
    [pT1 / m, eta1, pT2 / m, eta2, cos(phi1 - phi2)] with photon 1 the higher-pT one of
    ``pair`` and m the diphoton mass (see :data:`FEATURE_NAMES`). Dividing by m keeps a
    classifier from learning the mass itself."""
    i, j = _check_pair(photons, pair)
    if photons["pt"][j] > photons["pt"][i]:
        i, j = j, i
    m = diphoton_mass(photons, (i, j))
    if not m > 0:
        raise ValueError(f"the pair {pair!r} has invariant mass {m!r} GeV; features need m > 0")
    return _features(photons[[i]], photons[[j]], np.array([m]))[0]


# ---------------------------------------------------------------------------------------------
# Whole events: one image, or many sparse images at once
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventReco:
    """What :func:`reconstruct_event` finds in one event image."""

    #: All photon candidates (PHOTON_DTYPE), by decreasing pT.
    photons: np.ndarray
    #: Indices (leading, subleading) of the selected pair in ``photons``, or None.
    pair: tuple[int, int] | None
    #: m_gammagamma of the selected pair, GeV, or None.
    mass: float | None
    #: :func:`kinematic_features` of the selected pair (float32, (5,)), or None.
    features: NDArray[np.float32] | None

    @property
    def selected(self) -> bool:
        """True if the event passed the diphoton selection."""
        return self.pair is not None


@dataclass(frozen=True)
class RecoBatch:
    """What :func:`reconstruct_many` finds in a batch of events, as arrays over the events."""

    #: All events' photon candidates (PHOTON_DTYPE), event by event, by decreasing pT.
    photons: np.ndarray
    #: (n + 1,): event k's candidates are ``photons[photon_offsets[k]:photon_offsets[k + 1]]``.
    photon_offsets: NDArray[np.int64]
    #: (n, 2) indices into ``photons`` of each event's selected pair (leading, subleading);
    #: -1 where the event fails the selection.
    pair: NDArray[np.int64]
    #: (n,) m_gammagamma (GeV), NaN where the event fails.
    mass: NDArray[np.float64]
    #: (n, 5) float32 kinematic features, NaN where the event fails.
    features: NDArray[np.float32]

    def __len__(self) -> int:
        return self.mass.size

    @property
    def selected(self) -> NDArray[np.bool_]:
        """(n,) True where the event passed the diphoton selection."""
        return self.pair[:, 0] >= 0

    def event(self, k: int) -> EventReco:
        """Event ``k`` as an :class:`EventReco` (pair indices within its own candidates)."""
        a, b = self.photon_offsets[k], self.photon_offsets[k + 1]
        if self.pair[k, 0] < 0:
            return EventReco(photons=self.photons[a:b], pair=None, mass=None, features=None)
        return EventReco(
            photons=self.photons[a:b],
            pair=(int(self.pair[k, 0] - a), int(self.pair[k, 1] - a)),
            mass=float(self.mass[k]),
            features=self.features[k],
        )


def _reconstruct(
    key: NDArray[np.int64], vals: NDArray, event: NDArray[np.int64], offsets: NDArray[np.int64],
    preselection: bool, hcal: str,
) -> RecoBatch:
    photons, photon_offsets = _candidates(key, vals, event, offsets, hcal)
    pair, mass = _select(photons, photon_offsets, preselection)
    features = np.full((mass.size, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    sel = np.flatnonzero(pair[:, 0] >= 0)
    features[sel] = _features(photons[pair[sel, 0]], photons[pair[sel, 1]], mass[sel])
    return RecoBatch(photons, photon_offsets, pair, mass, features)


def reconstruct_many(
    images: SparseImages, *, preselection: bool = False, hcal: Literal["copy", "share"] = "copy"
) -> RecoBatch:
    """Photon candidates, selection, masses and features of many events at once, straight from
    their sparse images (:func:`e2e_tutorial.images.sparse_images`, or a dataset's stored
    pixels). Event by event the same as :func:`reconstruct_event` on the dense image.
    """
    _check_hcal_mode(hcal)
    if not isinstance(images, SparseImages):
        raise ValueError(f"images must be an images.SparseImages; got {type(images).__name__}")
    vals = images.values
    if vals.dtype.kind not in "iuf":
        raise ValueError(f"image values must be numbers (GeV); got dtype {vals.dtype}")
    if not np.isfinite(vals).all():
        i = int(np.argmax(~np.isfinite(vals)))
        k = int(np.searchsorted(images.offsets, i, side="right") - 1)
        raise ValueError(f"image values must be finite; got {vals[i]!r} in event {k}, "
                         f"pixel {int(images.indices[i])}")
    key, event = _pixel_keys(images.indices, images.offsets)
    falls = np.flatnonzero(np.diff(key) <= 0)
    if falls.size:
        i = int(falls[0])
        idx = images.indices
        raise ValueError(f"image pixel indices must increase within each event; got "
                         f"{idx[i]} then {idx[i + 1]} in event {int(event[i])}")
    return _reconstruct(key, vals, event, images.offsets, preselection, hcal)


def reconstruct_event(
    image: NDArray, *, preselection: bool = False, hcal: Literal["copy", "share"] = "copy"
) -> EventReco:
    """Photon candidates, selection, mass and features of one (3, 170, 360) event image.

    ``preselection`` adds the loose photon ID to the selection (default off, as the study);
    ``hcal`` is the image's HCAL mode ("copy", the default, or "share").
    """
    _check_hcal_mode(hcal)
    return _reconstruct(*_sparse_of(image), preselection, hcal).event(0)
