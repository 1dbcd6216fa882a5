"""The CMS coordinate system and the ECAL-barrel crystal grid (seminar sections 2.3.1 and 2.4).

Units: angles in radians, momenta and energies in GeV, lengths in metres. Every function works
on numpy arrays without Python loops (inputs broadcast against each other); a 0-d input gives a
numpy scalar back.

Coordinates (seminar 2.3.1)
---------------------------
Origin at the nominal collision point; x points to the centre of the LHC ring, y upwards, z
along the beam. The azimuth phi is measured in the xy plane from +x, the polar angle theta
from +z. Pseudorapidity, seminar Eq. (1)::

    eta = -ln tan(theta / 2)    <=>    theta = 2 arctan exp(-eta)

This module always returns phi in ``[-pi, pi)`` (see :func:`wrap_phi`).

Particles along the beam axis
-----------------------------
For pT = 0 the pseudorapidity is undefined (+-infinity), and so is the rapidity of a massless
particle with E = |pz|. :func:`pt_eta_phi` and :func:`rapidity` raise ``ValueError`` for such
entries by default, naming the first one. The event generator can (rarely) produce them, so
both functions take ``along_beam="inf"``, which returns eta (or y) = +-inf with the sign of pz
(and phi = 0 where pT = 0) instead; :func:`in_ecal_barrel` accepts those infinities and answers
False, so such particles can be filtered out before filling images. A null vector (p = 0, or
E = pz = 0) has no direction at all and is rejected in both modes.

The ECAL-barrel grid (seminar 2.4, Figure 6)
--------------------------------------------
The course models the barrel as a uniform grid of ``ECAL_N_ETA x ECAL_N_PHI = 170 x 360``
crystals of ``CRYSTAL_DETA = CRYSTAL_DPHI = 2 pi / 360 ~ 0.01745``. The grid therefore spans
``|eta| <= ECAL_ETA_MAX = 85 * 2 pi / 360 = 1.4835``, slightly more than the ``|eta| < 1.479``
that CMS quotes for the real barrel (CMS Collaboration, "The CMS experiment at the CERN LHC",
JINST 3 (2008) S08004): the real crystals are not exactly uniform in eta. The difference,
0.0045, is a quarter of a crystal and does not matter for this course.

* Rows (``ieta``, 0..169) increase with eta; row 0 starts at eta = -ECAL_ETA_MAX. Each crystal
  is the half-open interval ``[lower edge, upper edge)``; the barrel itself is the closed
  interval ``[-ECAL_ETA_MAX, +ECAL_ETA_MAX]`` (eta = +ECAL_ETA_MAX goes to row 169).
* Columns (``iphi``, 0..359) increase with phi; column 0 starts at phi = -pi, so the grid
  covers ``[-pi, pi)``. The seminar's Figure 6 draws phi in ``[0, 2 pi)`` instead. To convert:
  phi' = ``phi % (2 * np.pi)``, column ``iphi' = (iphi + 180) % 360``, and for a whole image
  ``np.roll(image, 180, axis=-1)`` (half a turn, so the direction of the roll does not matter).
* ``ECAL_ETA_EDGES`` (171 values) and ``ECAL_PHI_EDGES`` (361 values, exactly -pi ... pi) are
  the crystal boundaries, e.g. for ``pcolormesh``.

The HCAL barrel towers cover ``HCAL_TOWER_SIZE x HCAL_TOWER_SIZE = 5 x 5`` crystals, giving a
``HCAL_N_ETA x HCAL_N_PHI = 34 x 72`` grid with the same edges and orientation (tower size
0.0873, CMS quotes 0.087). Tower ``(t, s)`` holds crystals ``5t..5t+4`` x ``5s..5s+4``.

Detector numbers are approximate (study.md section 3, from the CMS TDRs and JINST paper).

Invalid input (non-finite values, values out of the stated range, indices off the grid) raises
``ValueError`` naming the first offending value, its index, how many values are bad, and the
valid range.
"""

from __future__ import annotations

from typing import Callable, Literal, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ECAL_N_ETA",
    "ECAL_N_PHI",
    "CRYSTAL_DETA",
    "CRYSTAL_DPHI",
    "ECAL_ETA_MAX",
    "CMS_ECAL_BARREL_ETA_MAX",
    "ECAL_RADIUS_M",
    "ECAL_ETA_EDGES",
    "ECAL_PHI_EDGES",
    "HCAL_TOWER_SIZE",
    "HCAL_N_ETA",
    "HCAL_N_PHI",
    "HCAL_ETA_EDGES",
    "HCAL_PHI_EDGES",
    "theta_to_eta",
    "eta_to_theta",
    "rapidity",
    "wrap_phi",
    "delta_phi",
    "delta_r",
    "pt_eta_phi",
    "pxpypz",
    "in_ecal_barrel",
    "ecal_index",
    "ecal_center",
    "hcal_index",
    "crystal_to_tower",
    "hcal_center",
]

Floats = Union[np.float64, NDArray[np.float64]]
Ints = Union[np.intp, NDArray[np.intp]]
Bools = Union[np.bool_, NDArray[np.bool_]]
AlongBeam = Literal["raise", "inf"]

# ---------------------------------------------------------------------------------------------
# Constants of the grid
# ---------------------------------------------------------------------------------------------

#: Crystal rows in eta (85 per side).
ECAL_N_ETA = 170
#: Crystal columns in phi.
ECAL_N_PHI = 360
#: Crystal width in phi, radians (2 pi / 360 ~ 0.01745).
CRYSTAL_DPHI = 2.0 * np.pi / ECAL_N_PHI
#: Crystal height in eta; the course grid uses the same value as in phi.
CRYSTAL_DETA = CRYSTAL_DPHI
#: Edge of the course's barrel grid: 85 crystals = 1.4835 (CMS quotes 1.479, see module doc).
ECAL_ETA_MAX = (ECAL_N_ETA // 2) * CRYSTAL_DETA
#: The barrel acceptance CMS quotes, |eta| < 1.479 (JINST 3 (2008) S08004); for reference only.
CMS_ECAL_BARREL_ETA_MAX = 1.479
#: Inner radius of the ECAL-barrel front face, metres (approximate).
ECAL_RADIUS_M = 1.29
#: Crystals per HCAL tower side.
HCAL_TOWER_SIZE = 5
#: HCAL barrel towers in eta over the ECAL-barrel range (17 per side).
HCAL_N_ETA = ECAL_N_ETA // HCAL_TOWER_SIZE
#: HCAL barrel towers in phi.
HCAL_N_PHI = ECAL_N_PHI // HCAL_TOWER_SIZE


def _frozen(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a.flags.writeable = False
    return a


#: Row boundaries, 171 values from -ECAL_ETA_MAX to +ECAL_ETA_MAX (exactly symmetric, 0 at 85).
ECAL_ETA_EDGES = _frozen((np.arange(ECAL_N_ETA + 1) - ECAL_N_ETA // 2) * CRYSTAL_DETA)
#: Column boundaries, 361 values from exactly -pi to exactly pi.
ECAL_PHI_EDGES = _frozen((np.arange(ECAL_N_PHI + 1) - ECAL_N_PHI // 2) * CRYSTAL_DPHI)
#: HCAL tower row boundaries (every 5th ECAL row boundary).
HCAL_ETA_EDGES = _frozen(ECAL_ETA_EDGES[::HCAL_TOWER_SIZE].copy())
#: HCAL tower column boundaries (every 5th ECAL column boundary).
HCAL_PHI_EDGES = _frozen(ECAL_PHI_EDGES[::HCAL_TOWER_SIZE].copy())

assert ECAL_PHI_EDGES[0] == -np.pi and ECAL_PHI_EDGES[-1] == np.pi
assert ECAL_ETA_EDGES[0] == -ECAL_ETA_MAX and ECAL_ETA_EDGES[-1] == ECAL_ETA_MAX

# ---------------------------------------------------------------------------------------------
# Validation helpers (the only place where error messages are written)
# ---------------------------------------------------------------------------------------------


def _fmt(v: object) -> str:
    """A value for an error message: integers as integers, floats with full precision."""
    if isinstance(v, (np.integer, int)):
        return str(int(v))
    return repr(float(v))  # type: ignore[arg-type]


def _reject(
    bad: NDArray[np.bool_],
    what: str,
    got: NDArray | Callable[[tuple[int, ...]], str],
    hint: str = "",
) -> None:
    """Raise ValueError if any entry of ``bad`` is set, naming the first one and the count.

    ``what`` states the rule ("theta must be in (0, pi) radians"), ``got`` is the array of
    values (or a function of the index giving the text to show), ``hint`` a remedy.
    """
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    shown = got(first) if callable(got) else _fmt(got[first])
    msg = f"{what}; got {shown}"
    if bad.ndim > 0:
        where = first[0] if len(first) == 1 else first
        msg += f" at index {where} ({int(bad.sum())} of {bad.size} values out of range)"
    if hint:
        msg += f"; {hint}"
    raise ValueError(msg)


def _real(
    name: str,
    x: ArrayLike,
    valid: str,
    lo: float = -np.inf,
    hi: float = np.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_inf: bool = False,
    hint: str = "",
) -> NDArray[np.float64]:
    """``x`` as a float64 array, checked finite (unless ``allow_inf``) and within lo..hi."""
    arr = np.asarray(x, dtype=np.float64)
    ok = ~np.isnan(arr) if allow_inf else np.isfinite(arr)
    ok &= (arr > lo) if lo_open else (arr >= lo)
    ok &= (arr < hi) if hi_open else (arr <= hi)
    _reject(~ok, f"{name} must be {valid}", arr, hint)
    return arr


def _index(name: str, i: ArrayLike, n: int) -> NDArray[np.intp]:
    """``i`` as an intp array, checked to hold whole numbers in [0, n - 1]."""
    arr = np.asarray(i)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be integers; got an array of dtype {arr.dtype}")
    ok = (arr >= 0) & (arr <= n - 1)
    if arr.dtype.kind == "f":
        ok &= np.isfinite(arr) & (arr == np.floor(arr))
    _reject(~ok, f"{name} must be an integer in [0, {n - 1}]", arr)
    return arr.astype(np.intp)


def _out(a: NDArray) -> NDArray | np.generic:
    """0-d arrays become numpy scalars; other arrays pass through."""
    return a[()] if a.ndim == 0 else a


def _check_along_beam(along_beam: str) -> None:
    if along_beam not in ("raise", "inf"):
        raise ValueError(f"along_beam must be 'raise' or 'inf'; got {along_beam!r}")


# ---------------------------------------------------------------------------------------------
# Angles
# ---------------------------------------------------------------------------------------------


def theta_to_eta(theta: ArrayLike) -> Floats:
    """Pseudorapidity of polar angle ``theta`` (radians, in the open interval (0, pi)).

    Seminar Eq. (1): eta = -ln tan(theta / 2).
    """
    t = _real("theta", theta, "in (0, pi) radians", 0.0, np.pi, lo_open=True, hi_open=True)
    with np.errstate(divide="ignore"):  # only for theta below ~1e-308, where eta overflows
        return _out(-np.log(np.tan(0.5 * t)))


def eta_to_theta(eta: ArrayLike) -> Floats:
    """Polar angle in radians, in (0, pi), of pseudorapidity ``eta`` (any finite number).

    Seminar Eq. (1): theta = 2 arctan exp(-eta). In float64, theta rounds to pi for
    eta below about -37 and to 0 for eta above about 745.
    """
    e = _real("eta", eta, "a finite number")
    with np.errstate(over="ignore"):
        return _out(2.0 * np.arctan(np.exp(-e)))


def wrap_phi(phi: ArrayLike) -> Floats:
    """Azimuth ``phi`` (radians, any finite value) wrapped into [-pi, pi).

    Values already in [-pi, pi) are returned unchanged (bit for bit); pi maps to -pi.
    """
    p = _real("phi", phi, "a finite number of radians")
    return _out(_wrap(p))


def _wrap(p: NDArray[np.float64]) -> NDArray[np.float64]:
    w = np.mod(p + np.pi, 2.0 * np.pi) - np.pi
    w = np.where(w >= np.pi, w - 2.0 * np.pi, w)  # mod can round up to exactly 2 pi
    return np.where((p >= -np.pi) & (p < np.pi), p, w)


def delta_phi(phi1: ArrayLike, phi2: ArrayLike) -> Floats:
    """phi1 - phi2 wrapped into [-pi, pi), radians (the shorter way round the ring).

    Exactly antisymmetric, delta_phi(a, b) == -delta_phi(b, a), except for a difference of
    half a turn, which is -pi both ways.
    """
    p1 = _real("phi1", phi1, "a finite number of radians")
    p2 = _real("phi2", phi2, "a finite number of radians")
    d = p1 - p2
    w = _wrap(np.abs(d))  # wrapping |d| and restoring the sign keeps the antisymmetry exact
    w = np.where(d < 0, -w, w)
    return _out(np.where(w >= np.pi, w - 2.0 * np.pi, w))


def delta_r(eta1: ArrayLike, phi1: ArrayLike, eta2: ArrayLike, phi2: ArrayLike) -> Floats:
    """Angular distance sqrt(delta_eta^2 + delta_phi^2) in the (eta, phi) plane (seminar 2.4).

    Symmetric in the two particles and continuous across the phi = +-pi seam.
    """
    e1 = _real("eta1", eta1, "a finite number")
    e2 = _real("eta2", eta2, "a finite number")
    dphi = delta_phi(phi1, phi2)
    return _out(np.hypot(e1 - e2, dphi))


# ---------------------------------------------------------------------------------------------
# Momenta
# ---------------------------------------------------------------------------------------------


def rapidity(e: ArrayLike, pz: ArrayLike, *, along_beam: AlongBeam = "raise") -> Floats:
    """Rapidity y = 1/2 ln((E + pz) / (E - pz)) (seminar 2.3.1, footnote 2); E, pz in GeV.

    Needs E >= |pz| (a physical four-vector); E < |pz| always raises. E = |pz| > 0 (a massless
    particle along the beam) gives y = +-infinity: raises by default, returns +-inf with
    ``along_beam="inf"``. E = pz = 0 always raises.
    """
    _check_along_beam(along_beam)
    en = _real("E", e, "a finite number of GeV")
    p = _real("pz", pz, "a finite number of GeV")
    en, p = np.broadcast_arrays(en, p)

    def show(i: tuple[int, ...]) -> str:
        return f"E={_fmt(en[i])}, pz={_fmt(p[i])}"

    _reject(en < np.abs(p), "E must be >= |pz| (a physical four-vector)", show)
    _reject(en == 0, "E must be > 0 for the rapidity to be defined", show)
    if along_beam == "raise":
        _reject(
            en == np.abs(p),
            "E must be > |pz| for the rapidity to be finite (E = |pz| is a massless particle "
            "along the beam)",
            show,
            "pass along_beam='inf' to get y = +-inf instead",
        )
    with np.errstate(divide="ignore"):
        return _out(0.5 * np.log((en + p) / (en - p)))


def pt_eta_phi(
    px: ArrayLike, py: ArrayLike, pz: ArrayLike, *, along_beam: AlongBeam = "raise"
) -> tuple[Floats, Floats, Floats]:
    """(pT, eta, phi) of the three-vector (px, py, pz): GeV in, (GeV, -, radians in [-pi, pi)).

    pT = hypot(px, py), eta = asinh(pz / pT) (equal to seminar Eq. (1) with theta the polar
    angle), phi = atan2(py, px). Works for positions in metres too (pT is then the distance
    from the beam). For pT = 0 (along the beam) eta is undefined: raises by default; with
    ``along_beam="inf"`` returns eta = +-inf (sign of pz) and phi = 0 there. The same applies
    where pT > 0 is so small that |pz| / pT overflows. The null vector always raises.
    """
    _check_along_beam(along_beam)
    x = _real("px", px, "a finite number of GeV")
    y = _real("py", py, "a finite number of GeV")
    z = _real("pz", pz, "a finite number of GeV")
    x, y, z = np.broadcast_arrays(x, y, z)

    def show(i: tuple[int, ...]) -> str:
        return f"px={_fmt(x[i])}, py={_fmt(y[i])}, pz={_fmt(z[i])}"

    pt = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        eta = np.arcsinh(z / pt)
    _reject((pt == 0) & (z == 0), "the momentum must not be the null vector", show)
    on_beam = ~np.isfinite(eta)
    if along_beam == "raise":
        _reject(
            on_beam,
            "pt must be > 0 for eta to be defined (this momentum points along the beam axis)",
            show,
            "pass along_beam='inf' to get eta = +-inf (and phi = 0) instead",
        )
    phi = np.where(pt > 0, _wrap(np.arctan2(y, x)), 0.0)
    return _out(pt), _out(eta), _out(phi)


def pxpypz(pt: ArrayLike, eta: ArrayLike, phi: ArrayLike) -> tuple[Floats, Floats, Floats]:
    """(px, py, pz) in GeV from pT >= 0 (GeV), finite eta and finite phi (radians, any turn).

    px = pT cos phi, py = pT sin phi, pz = pT sinh eta (the inverse of :func:`pt_eta_phi`).
    """
    p = _real("pt", pt, "a finite number >= 0 GeV", 0.0)
    e = _real("eta", eta, "a finite number")
    f = _real("phi", phi, "a finite number of radians")
    return _out(p * np.cos(f)), _out(p * np.sin(f)), _out(p * np.sinh(e))


# ---------------------------------------------------------------------------------------------
# ECAL barrel grid and HCAL towers
# ---------------------------------------------------------------------------------------------

_ETA_RANGE = f"in [-{ECAL_ETA_MAX!r}, {ECAL_ETA_MAX!r}] (the ECAL barrel, 85 crystals per side)"


def in_ecal_barrel(eta: ArrayLike) -> Bools:
    """True where ``|eta| <= ECAL_ETA_MAX`` (the course grid; see the module doc).

    Accepts +-inf (answer False), as returned by ``pt_eta_phi(..., along_beam="inf")``;
    NaN raises. Use it to filter particles before :func:`ecal_index`.
    """
    e = _real("eta", eta, "a number (+-inf allowed)", allow_inf=True)
    return _out(np.abs(e) <= ECAL_ETA_MAX)


def ecal_index(eta: ArrayLike, phi: ArrayLike) -> tuple[Ints, Ints]:
    """Crystal (ieta, iphi) containing direction (eta, phi); phi in radians, wrapped first.

    ieta in 0..169 increases with eta (0 at -ECAL_ETA_MAX); iphi in 0..359 increases with phi
    (0 at -pi). Each crystal holds its lower edges; eta = +ECAL_ETA_MAX goes to row 169.
    eta outside the barrel raises ValueError: filter with :func:`in_ecal_barrel` first.
    """
    e = _real(
        "eta", eta, _ETA_RANGE, -ECAL_ETA_MAX, ECAL_ETA_MAX,
        hint="filter with in_ecal_barrel(eta) first",
    )
    p = _wrap(_real("phi", phi, "a finite number of radians"))
    e, p = np.broadcast_arrays(e, p)
    ieta = np.minimum(np.searchsorted(ECAL_ETA_EDGES, e, side="right") - 1, ECAL_N_ETA - 1)
    iphi = np.searchsorted(ECAL_PHI_EDGES, p, side="right") - 1
    return _out(ieta.astype(np.intp)), _out(iphi.astype(np.intp))


def ecal_center(ieta: ArrayLike, iphi: ArrayLike) -> tuple[Floats, Floats]:
    """(eta, phi) of the centre of crystal (ieta, iphi); phi in [-pi, pi) radians."""
    i = _index("ieta", ieta, ECAL_N_ETA)
    j = _index("iphi", iphi, ECAL_N_PHI)
    eta = 0.5 * (ECAL_ETA_EDGES[i] + ECAL_ETA_EDGES[i + 1])
    phi = 0.5 * (ECAL_PHI_EDGES[j] + ECAL_PHI_EDGES[j + 1])
    eta, phi = np.broadcast_arrays(eta, phi)
    return _out(np.array(eta)), _out(np.array(phi))


def crystal_to_tower(ieta: ArrayLike, iphi: ArrayLike) -> tuple[Ints, Ints]:
    """HCAL tower (0..33, 0..71) that contains crystal (ieta, iphi): integer division by 5."""
    i = _index("ieta", ieta, ECAL_N_ETA)
    j = _index("iphi", iphi, ECAL_N_PHI)
    i, j = np.broadcast_arrays(i // HCAL_TOWER_SIZE, j // HCAL_TOWER_SIZE)
    return _out(np.array(i)), _out(np.array(j))


def hcal_index(eta: ArrayLike, phi: ArrayLike) -> tuple[Ints, Ints]:
    """HCAL tower (ieta 0..33, iphi 0..71) containing (eta, phi); same rules as ecal_index."""
    return crystal_to_tower(*ecal_index(eta, phi))


def hcal_center(ieta: ArrayLike, iphi: ArrayLike) -> tuple[Floats, Floats]:
    """(eta, phi) of the centre of HCAL tower (ieta 0..33, iphi 0..71); phi in [-pi, pi)."""
    i = _index("ieta", ieta, HCAL_N_ETA)
    j = _index("iphi", iphi, HCAL_N_PHI)
    eta = 0.5 * (HCAL_ETA_EDGES[i] + HCAL_ETA_EDGES[i + 1])
    phi = 0.5 * (HCAL_PHI_EDGES[j] + HCAL_PHI_EDGES[j + 1])
    eta, phi = np.broadcast_arrays(eta, phi)
    return _out(np.array(eta)), _out(np.array(phi))
