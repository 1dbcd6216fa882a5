"""Event generation with Pythia 8: the three processes of the study, a particle gun, and a
generator-level pre-filter that makes the gamma+jet sample affordable.

Every event is a numpy structured array of its final-state particles, one row per particle,
with the fields of :data:`PARTICLE_DTYPE` (momenta and energies in GeV, production vertex in
metres). The settings follow the Pythia 8.3 manual (Bierlich et al., "A comprehensive guide to
the physics and usage of PYTHIA 8.3", SciPost Phys. Codebases 8 (2022)); the processes are
those of Andrews et al. (2020), generated here at 8 TeV with Pythia 8 instead of Pythia 6 and
with Pythia's default tune (Monash 2013, NNPDF2.3 QCD+QED LO parton densities).

=========  ==================================  =============================================
name       process                             Pythia settings (besides the common ones)
=========  ==================================  =============================================
``"h"``    gg -> H -> gamma gamma, m_H = 125   ``HiggsSM:gg2H = on``, ``25:m0 = 125``,
           GeV (signal)                        ``25:onMode = off``, ``25:onIfMatch = 22 22``
``"gg"``   prompt diphoton, 25 < pT-hat < 250  ``PromptPhoton:ffbar2gammagamma = on``,
           GeV (irreducible background)        ``PromptPhoton:gg2gammagamma = on``,
                                               ``PhaseSpace:pTHatMin = 25``,
                                               ``PhaseSpace:pTHatMax = 250``
``"gj"``   gamma + jet, pT-hat > 40 GeV        ``PromptPhoton:qg2qgamma = on``,
           (reducible background: the jet      ``PromptPhoton:qqbar2ggamma = on``,
           fakes the second photon)            ``PhaseSpace:pTHatMin = 40``
=========  ==================================  =============================================

Common settings: ``Beams:eCM = 8000.`` (GeV), ``Print:quiet = on``, ``Random:setSeed = on``,
``Random:seed = <seed>``, ``PartonLevel:MPI = on|off``.

Multi-parton interactions (MPI) are the underlying event: extra soft parton scatterings in the
same collision. They put soft particles everywhere in the detector (about 350 final-state
particles per event instead of 100-150), including under the photons, so they belong in
realistic event images, but they cost: on the 2-core reference machine Pythia alone makes
about 260-300 events/s per core with MPI against 1 800-3 500 without (7-12 times slower), and
:func:`generate`, which also converts each event to an array, about 165-185 against 700-1 200.
They hardly change which events pass the diphoton selection. Use the same setting for all
three processes, or a classifier can learn the difference. Numbers and commands:
``benchmarks/gamma_jet_filter.md``.

Public API: :func:`generate`, :func:`generate_with_truth`, :class:`EventTruth`,
:func:`process_info`, :data:`PROCESSES`, :func:`particle_gun`, :data:`PARTICLE_DTYPE` and the
``ORIGIN_*`` codes, :func:`charge_of`, :func:`mass_of`, and the pre-filter:
:func:`passes_hard_process_cut` (stage 1), :func:`em_objects`, :func:`em_enriched` (stage 2),
:func:`truth_selection` (the truth-level stand-in for the selection used to validate it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pythia8mc
from particle import Particle
from particle.pdgid import charge as _pdgid_charge

__all__ = [
    "PARTICLE_DTYPE",
    "ORIGIN_OTHER",
    "ORIGIN_HARD",
    "ORIGIN_DECAY",
    "ORIGIN_RADIATION",
    "ORIGIN_HADRONIZATION",
    "ORIGIN_NAMES",
    "E_CM",
    "SEED_MIN",
    "SEED_MAX",
    "ProcessInfo",
    "PROCESSES",
    "process_info",
    "EventTruth",
    "generate",
    "generate_with_truth",
    "GUN_PDG_IDS",
    "particle_gun",
    "charge_of",
    "mass_of",
    "HARD_ETA_MAX",
    "HARD_MASS_MIN",
    "passes_hard_process_cut",
    "EM_SEED_PT_MIN",
    "EM_CONE",
    "EM_PT_MIN",
    "EM_ETA_MAX",
    "EM_MASS_MIN",
    "em_objects",
    "em_enriched",
    "truth_selection",
]

# --------------------------------------------------------------------------------------------
# Output format
# --------------------------------------------------------------------------------------------

#: One final-state particle. ``charge`` in units of e (from the ``particle`` package);
#: ``px, py, pz, e`` in GeV; ``vx, vy, vz`` = production vertex in metres (Pythia works in mm);
#: ``origin`` = one of the ``ORIGIN_*`` codes; ``mother_id`` = PDG id of the particle it came
#: from (the decaying hadron for decay products, e.g. 111 for photons of a pi0; 25 for the
#: photons of the Higgs decay; 0 for hadrons made in string fragmentation, which have no
#: single mother).
PARTICLE_DTYPE = np.dtype(
    [
        ("pdg_id", "i4"),
        ("charge", "f4"),
        ("px", "f8"),
        ("py", "f8"),
        ("pz", "f8"),
        ("e", "f8"),
        ("vx", "f8"),
        ("vy", "f8"),
        ("vz", "f8"),
        ("origin", "i1"),
        ("mother_id", "i4"),
    ]
)

#: Anything not below (beam remnants, ...).
ORIGIN_OTHER = 0
#: An outgoing particle of the hard process or of its resonance decay (the Higgs photons, the
#: prompt photons), followed through its copies; also the e+e- (or mu+mu-) pair and photons of
#: a QED splitting of such a photon (Pythia's ``TimeShower:QEDshowerByGamma``; about 3 % of
#: H -> gamma gamma events). When a photon splits into a quark pair instead (about 2 %), the
#: hadrons it makes are labelled ORIGIN_HADRONIZATION. Particle-gun primaries get this code.
ORIGIN_HARD = 1
#: Product of a particle decay (Pythia status 91-99): photons of pi0 -> gamma gamma and
#: eta -> gamma gamma, hadrons from resonance decays, ... ``mother_id`` names the mother.
ORIGIN_DECAY = 2
#: Emitted in initial- or final-state radiation or in a multi-parton interaction and not traced
#: back to a hard-process photon (e.g. a photon radiated off a quark; Pythia status 31-59).
ORIGIN_RADIATION = 3
#: A hadron made directly in string fragmentation (Pythia status 81-89).
ORIGIN_HADRONIZATION = 4

ORIGIN_NAMES = {
    ORIGIN_OTHER: "other",
    ORIGIN_HARD: "hard process",
    ORIGIN_DECAY: "particle decay",
    ORIGIN_RADIATION: "radiation / MPI",
    ORIGIN_HADRONIZATION: "hadronization",
}

#: Proton-proton centre-of-mass energy, GeV.
E_CM = 8000.0
#: Pythia's ``Random:seed`` gives a reproducible sequence for 1..900 000 000; 0 would mean
#: "seed from the clock" and negative "the default seed", so both are refused here.
SEED_MIN = 1
SEED_MAX = 900_000_000

_MM_TO_M = 1e-3
_QED_IDS = frozenset({22, 11, 13, 15})

# --------------------------------------------------------------------------------------------
# PDG data from the `particle` package, cached per id
# --------------------------------------------------------------------------------------------

_CHARGE_CACHE: dict[int, float] = {}
_MASS_CACHE: dict[int, float] = {}


def charge_of(pdg_id: int) -> float:
    """Electric charge (units of e) of a PDG id, from the ``particle`` package (cached).

    Ids missing from the package's table fall back to the charge it computes from the quark
    content (``particle.pdgid.charge``).
    """
    pid = int(pdg_id)
    q = _CHARGE_CACHE.get(pid)
    if q is None:
        try:
            q = float(Particle.from_pdgid(pid).charge)
        except Exception:  # ParticleNotFound or an invalid id: use the quark-content rule
            value = _pdgid_charge(pid)
            if value is None:
                raise ValueError(f"no charge known for PDG id {pid}") from None
            q = float(value)
        _CHARGE_CACHE[pid] = q
    return q


def mass_of(pdg_id: int) -> float:
    """Mass in GeV of a PDG id, from the ``particle`` package (which gives MeV; cached)."""
    pid = int(pdg_id)
    m = _MASS_CACHE.get(pid)
    if m is None:
        mev = Particle.from_pdgid(pid).mass
        if mev is None:
            raise ValueError(f"the particle package has no mass for PDG id {pid}")
        m = float(mev) / 1000.0
        _MASS_CACHE[pid] = m
    return m


# --------------------------------------------------------------------------------------------
# The processes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo:
    """A process of the study: its short name, a label for plots, a description for the book,
    its Pythia settings (added to the common ones), and whether the pre-filter's hard-process
    cut (stage 1, :func:`passes_hard_process_cut`) applies to it."""

    name: str
    label: str
    description: str
    settings: tuple[str, ...]
    #: Stage 1 is used for the 2 -> 2 processes only. For gg -> H the hard process is a Higgs
    #: at rest in the transverse plane; recoil against initial-state radiation later turns
    #: its photons by a lot, and a cut on their direction before the shower would lose about
    #: 1% of the selected events (and gain little: a third of H events pass the selection).
    hard_cut: bool


PROCESSES: dict[str, ProcessInfo] = {
    "h": ProcessInfo(
        name="h",
        label=r"$H\to\gamma\gamma$",
        description=(
            "Signal: gluon-gluon fusion to a Standard-Model Higgs boson of mass 125 GeV, "
            "forced to decay to two photons."
        ),
        settings=(
            "HiggsSM:gg2H = on",
            "25:m0 = 125",
            "25:onMode = off",
            "25:onIfMatch = 22 22",
        ),
        hard_cut=False,
    ),
    "gg": ProcessInfo(
        name="gg",
        label=r"$\gamma\gamma$",
        description=(
            "Irreducible background: two prompt photons from quark-antiquark annihilation "
            "and from the gluon-gluon box, 25 < pT-hat < 250 GeV."
        ),
        settings=(
            "PromptPhoton:ffbar2gammagamma = on",
            "PromptPhoton:gg2gammagamma = on",
            "PhaseSpace:pTHatMin = 25.",
            "PhaseSpace:pTHatMax = 250.",
        ),
        hard_cut=True,
    ),
    "gj": ProcessInfo(
        name="gj",
        label=r"$\gamma$+jet",
        description=(
            "Reducible background: one prompt photon recoiling against a quark or gluon jet "
            "(qg -> q gamma, q qbar -> g gamma), pT-hat > 40 GeV; it passes the diphoton "
            "selection when the jet fakes a photon, mostly through a leading pi0 or eta."
        ),
        settings=(
            "PromptPhoton:qg2qgamma = on",
            "PromptPhoton:qqbar2ggamma = on",
            "PhaseSpace:pTHatMin = 40.",
        ),
        hard_cut=True,
    ),
}


def process_info(name: str) -> ProcessInfo:
    """The :class:`ProcessInfo` of ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return PROCESSES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown process {name!r}; valid processes are {sorted(PROCESSES)}"
        ) from None


def _common_settings(seed: int, mpi: bool) -> list[str]:
    return [
        f"Beams:eCM = {E_CM}",
        "Print:quiet = on",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
    ]


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [{SEED_MIN}, {SEED_MAX}], got {seed!r}")
    if not SEED_MIN <= int(seed) <= SEED_MAX:
        raise ValueError(
            f"seed {seed} is outside the valid range [{SEED_MIN}, {SEED_MAX}] "
            "(Pythia's Random:seed; 0 would seed from the clock)"
        )
    return int(seed)


def _check_count(n: int, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------------------------
# Pythia event record -> structured array
# --------------------------------------------------------------------------------------------


def _origin(event, q) -> tuple[int, int]:
    """(origin code, mother PDG id) of the final-state particle ``q`` of a Pythia event."""
    status = q.statusAbs()
    if 91 <= status <= 99:
        return ORIGIN_DECAY, event[q.mother1()].id()
    if 81 <= status <= 89:
        return ORIGIN_HADRONIZATION, 0
    top = event[q.iTopCopyId()]
    mother_id = event[top.mother1()].id() if top.mother1() > 0 else 0
    top_status = top.statusAbs()
    if 21 <= top_status <= 29:
        return ORIGIN_HARD, mother_id
    if 31 <= top_status <= 59:
        # A photon or lepton from the shower: walk up through photons/leptons; if the chain
        # reaches a hard-process photon/lepton, it is that photon's QED splitting.
        current = top
        for _ in range(50):
            if abs(current.id()) not in _QED_IDS or not 31 <= current.statusAbs() <= 59:
                break
            if current.mother1() <= 0:
                break
            current = event[event[current.mother1()].iTopCopyId()]
        if abs(current.id()) in _QED_IDS and 21 <= current.statusAbs() <= 29:
            return ORIGIN_HARD, mother_id
        return ORIGIN_RADIATION, mother_id
    return ORIGIN_OTHER, mother_id


# Unbound methods of pythia8mc.Particle, called through map() over many particles: the cost
# of reading the event record is one Python-to-C++ call per particle property.
_P_STATUS = pythia8mc.Particle.status
_P_ID = pythia8mc.Particle.id
_P_MOTHER1 = pythia8mc.Particle.mother1
_P_COLUMNS = (
    ("px", pythia8mc.Particle.px),
    ("py", pythia8mc.Particle.py),
    ("pz", pythia8mc.Particle.pz),
    ("e", pythia8mc.Particle.e),
)
_P_VERTEX = (
    ("vx", pythia8mc.Particle.xProd),
    ("vy", pythia8mc.Particle.yProd),
    ("vz", pythia8mc.Particle.zProd),
)


#: The fields that the stage-2 pre-filter (:func:`em_enriched`) reads.
_KINEMATIC_FIELDS = ("pdg_id", "px", "py", "pz", "e")
_KINEMATIC_DTYPE = np.dtype([(name, PARTICLE_DTYPE.fields[name][0]) for name in _KINEMATIC_FIELDS])


@dataclass
class _FinalState:
    """The final-state particles of a Pythia event read in two steps (see :func:`_final_state`):
    ``kinematics`` (ids and four-momenta, enough for the pre-filter) first, the rest after."""

    event: object
    parts: list  # copies of every entry of the event record (Event.particles())
    index: np.ndarray  # positions of the final-state particles in the record
    status: np.ndarray  # their |status|
    final: list  # their copies
    ids: list  # their PDG ids
    kinematics: np.ndarray  # _KINEMATIC_DTYPE


def _read_kinematics(event) -> _FinalState:
    """Step 1: the ids and four-momenta of the final-state particles of a Pythia ``Event``."""
    parts = event.particles()  # copies, in one call; index = position in the event record
    status = np.fromiter(map(_P_STATUS, parts), dtype=np.int64, count=len(parts))
    index = np.flatnonzero(status > 0)  # Particle.isFinal() is status > 0
    final = [parts[i] for i in index.tolist()]
    ids = list(map(_P_ID, final))
    kin = np.empty(index.size, dtype=_KINEMATIC_DTYPE)
    kin["pdg_id"] = ids
    for name, getter in _P_COLUMNS:
        kin[name] = list(map(getter, final))
    return _FinalState(event, parts, index, np.abs(status[index]), final, ids, kin)


def _complete(fs: _FinalState) -> np.ndarray:
    """Step 2: the :data:`PARTICLE_DTYPE` array (charges, vertices, origins added)."""
    n = fs.index.size
    out = np.empty(n, dtype=PARTICLE_DTYPE)
    for name in _KINEMATIC_FIELDS:
        out[name] = fs.kinematics[name]
    if n == 0:
        return out
    charges = {pid: charge_of(pid) for pid in set(fs.ids)}
    out["charge"] = [charges[pid] for pid in fs.ids]
    for name, getter in _P_VERTEX:
        out[name] = np.array(list(map(getter, fs.final)), dtype=np.float64) * _MM_TO_M
    decay = (fs.status >= 91) & (fs.status <= 99)
    hadronization = (fs.status >= 81) & (fs.status <= 89)
    origin = np.where(decay, ORIGIN_DECAY, np.where(hadronization, ORIGIN_HADRONIZATION, ORIGIN_OTHER))
    mother_id = np.zeros(n, dtype=np.int64)
    if decay.any():  # the mother's id (the two photons of a pi0 share their mother)
        mothers = [_P_MOTHER1(fs.final[k]) for k in np.flatnonzero(decay).tolist()]
        mother_ids = {m: _P_ID(fs.parts[m]) for m in set(mothers)}
        mother_id[decay] = [mother_ids[m] for m in mothers]
    for k in np.flatnonzero(~(decay | hadronization)).tolist():
        origin[k], mother_id[k] = _origin(fs.event, fs.event[int(fs.index[k])])
    out["origin"] = origin
    out["mother_id"] = mother_id
    return out


def _final_state(event) -> np.ndarray:
    """The final-state particles of a Pythia ``Event`` as a :data:`PARTICLE_DTYPE` array.

    pythia8mc has no bulk (array) access to the event record: every property of every particle
    costs a Python-to-C++ call. They are made column by column with ``map`` over the copies
    that ``Event.particles()`` returns in one call; mothers are followed (:func:`_origin`) only
    where the status code does not settle the origin (decay products and string-fragmentation
    hadrons are most particles). Same values as reading the particles one by one. In two steps
    (:func:`_read_kinematics`, :func:`_complete`) so that the pre-filter can reject an event
    before the second.
    """
    return _complete(_read_kinematics(event))


def _hard_process(process) -> np.ndarray:
    """Outgoing particles of Pythia's hard-process record (after resonance decays, before
    showers): the Higgs photons, the two prompt photons, or the photon and the parton."""
    rows = []
    for i in range(process.size()):
        q = process[i]
        if q.isFinal():
            pid = q.id()
            mother = process[q.mother1()].id() if q.mother1() > 0 else 0
            p4 = (q.px(), q.py(), q.pz(), q.e())
            rows.append((pid, charge_of(pid), *p4, 0.0, 0.0, 0.0, ORIGIN_HARD, mother))
    return np.array(rows, dtype=PARTICLE_DTYPE)


# --------------------------------------------------------------------------------------------
# Kinematics helpers (numpy only)
# --------------------------------------------------------------------------------------------


def _pt_eta_phi(px, py, pz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz / pt)  # +-inf along the beam
    return pt, eta, np.arctan2(py, px)


def _mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass (GeV) of four-vectors ``p4[..., (px, py, pz, e)]``; 0 if space-like."""
    m2 = p4[..., 3] ** 2 - p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def _p4(particles: np.ndarray) -> np.ndarray:
    return np.stack([particles["px"], particles["py"], particles["pz"], particles["e"]], axis=-1)


# --------------------------------------------------------------------------------------------
# Pre-filter, stage 1: a cut on the hard process (before showers, MPI and hadronization)
# --------------------------------------------------------------------------------------------

#: Stage 1 keeps a hard process only if all its outgoing particles have |eta| below this.
#: The selection asks for photons within |eta| < 1.44; the margin covers the recoil against
#: initial-state radiation and the spread of a jet's pi0 around the parton direction. For
#: gamma+jet it keeps 62% of hard processes and loses 0.04-0.27% of the selected events
#: (benchmarks/gamma_jet_filter.md).
HARD_ETA_MAX = 2.5
#: ... and if their invariant mass (m-hat, GeV) is above this (selection: m_gammagamma > 90).
HARD_MASS_MIN = 80.0


def passes_hard_process_cut(
    hard: np.ndarray, *, eta_max: float = HARD_ETA_MAX, mass_min: float = HARD_MASS_MIN
) -> bool:
    """Stage 1 of the pre-filter on the outgoing hard-process particles (a
    :data:`PARTICLE_DTYPE` array, e.g. ``EventTruth.hard_process``): every one within
    |eta| < ``eta_max`` and their invariant mass above ``mass_min`` GeV."""
    if len(hard) == 0:
        return False
    _, eta, _ = _pt_eta_phi(hard["px"], hard["py"], hard["pz"])
    if np.any(np.abs(eta) >= eta_max):
        return False
    return bool(_mass(_p4(hard).sum(axis=0)) > mass_min)


class _HardProcessVeto(pythia8mc.UserHooks):
    """Pythia user hook: veto hard processes that fail :func:`passes_hard_process_cut`, before
    the (expensive) parton showers, multi-parton interactions and hadronization are run.
    Pythia counts vetoed events in ``Info.nSelected`` and lowers ``Info.sigmaGen`` to match
    (manual, "User Hooks", canVetoProcessLevel)."""

    def __init__(self, eta_max: float, mass_min: float) -> None:
        pythia8mc.UserHooks.__init__(self)
        self.eta_max = eta_max
        self.mass_min = mass_min

    def canVetoProcessLevel(self) -> bool:  # noqa: N802 (Pythia's name)
        return True

    def doVetoProcessLevel(self, process) -> bool:  # noqa: N802 (Pythia's name)
        px = py = pz = e = 0.0
        for i in range(process.size()):
            q = process[i]
            if not q.isFinal():
                continue
            if q.pT() <= 0.0 or abs(q.eta()) >= self.eta_max:
                return True
            px += q.px()
            py += q.py()
            pz += q.pz()
            e += q.e()
        return e * e - px * px - py * py - pz * pz <= self.mass_min**2


# --------------------------------------------------------------------------------------------
# Pre-filter, stage 2: two EM objects in the barrel (after the full event is generated)
# --------------------------------------------------------------------------------------------

#: Particles above this pT (GeV) seed EM objects.
EM_SEED_PT_MIN = 5.0
#: An EM object sums the particles within Delta R < EM_CONE of its seed: about 6 crystals
#: (0.0174 each) in radius, so the two photons of a pi0 above a few GeV (opening angle about
#: 2 m/E) make one object, as they make one shower in the ECAL.
EM_CONE = 0.1
#: EM objects count above this pT (GeV); the selection asks 20 GeV per photon.
EM_PT_MIN = 15.0
#: ... within this |eta| (the ECAL barrel ends at 1.479; the selection asks 1.44).
EM_ETA_MAX = 1.6
#: ... and some pair of them must have an invariant mass above this (GeV; selection: 90).
EM_MASS_MIN = 80.0

_NOT_SEEN = (12, 14, 16, 13)  # neutrinos leave nothing; muons only a MIP


def _not_seen(aid: np.ndarray) -> np.ndarray:
    """``np.isin(aid, _NOT_SEEN)``, at a fraction of its cost for a handful of values."""
    out = aid == _NOT_SEEN[0]
    for code in _NOT_SEEN[1:]:
        out |= aid == code
    return out


def _clusters(
    particles: np.ndarray,
    member: np.ndarray,
    seed: np.ndarray,
    seed_pt_min: float,
    *,
    cone: float | None = None,
    half_width: float | None = None,
) -> np.ndarray:
    """Greedy clustering: particles where ``seed`` is True and pT > ``seed_pt_min`` (GeV) seed
    clusters in decreasing pT; each takes the unused ``member`` particles within
    Delta R < ``cone``, or within |Delta eta|, |Delta phi| < ``half_width``. Returns the
    clusters' four-momenta (px, py, pz, e) in GeV, shape (k, 4)."""
    idx = np.flatnonzero(member | seed)
    if idx.size == 0:
        return np.zeros((0, 4))
    sub = particles[idx]
    is_member = member[idx]
    p4 = _p4(sub)
    pt, eta, phi = _pt_eta_phi(sub["px"], sub["py"], sub["pz"])
    is_seed = seed[idx] & (pt > seed_pt_min)
    order = np.argsort(-pt)
    seeds = order[is_seed[order]]  # candidate seeds by decreasing pT
    # Distances from every candidate seed to every particle at once (one row per seed).
    deta = eta - eta[seeds][:, None]
    dphi = np.remainder(phi - phi[seeds][:, None] + np.pi, 2.0 * np.pi) - np.pi
    if cone is not None:
        near = deta**2 + dphi**2 < cone**2
    else:
        near = (np.abs(deta) < half_width) & (np.abs(dphi) < half_width)
    used = np.zeros(idx.size, dtype=bool)
    out = []
    for row, s in enumerate(seeds.tolist()):
        if used[s]:
            continue
        inside = near[row] & is_member & ~used
        inside[s] = True
        used |= inside
        out.append(p4[inside].sum(axis=0))
    return np.array(out).reshape(-1, 4)


def em_objects(
    particles: np.ndarray,
    *,
    include_hadrons: bool = True,
    cone: float = EM_CONE,
    seed_pt_min: float = EM_SEED_PT_MIN,
) -> np.ndarray:
    """Narrow calorimeter objects of an event, each the sum of the particles within
    Delta R < ``cone`` of a seed above ``seed_pt_min`` GeV (greedy, seeds in decreasing pT).

    With ``include_hadrons`` (default) seeds and members are all particles that leave energy
    in the calorimeters (not neutrinos or muons), as a hadron showering early can pass for
    a photon when a reconstruction applies no hadronic-fraction cut; without it only photons
    and electrons. Returns (k, 4) four-momenta (px, py, pz, e) in GeV, by decreasing pT.
    """
    aid = np.abs(particles["pdg_id"])
    member = ~_not_seen(aid) if include_hadrons else (aid == 11) | (aid == 22)
    objs = _clusters(particles, member, member, seed_pt_min, cone=cone)
    pt = np.hypot(objs[:, 0], objs[:, 1])
    return objs[np.argsort(-pt)]


def em_enriched(
    particles: np.ndarray,
    *,
    include_hadrons: bool = True,
    pt_min: float = EM_PT_MIN,
    eta_max: float = EM_ETA_MAX,
    mass_min: float = EM_MASS_MIN,
    cone: float = EM_CONE,
) -> bool:
    """Stage 2 of the pre-filter ("double-EM enrichment"): True if the event has at least two
    :func:`em_objects` with pT > ``pt_min`` GeV and |eta| < ``eta_max`` of which some pair has
    an invariant mass above ``mass_min`` GeV.

    No isolation or shower shape is asked: a jet whose leading pi0/eta carries most of its
    energy counts like a photon, as it may in the ECAL. The thresholds sit below the
    selection's (20 GeV, |eta| < 1.44, 90 GeV) to leave room for resolution and for energy
    the reconstruction adds. ``include_hadrons=False`` (photons and electrons only) keeps
    5 times fewer gamma+jet events but is safe only with an EM-dominated photon definition
    (see benchmarks/gamma_jet_filter.md).
    """
    objs = em_objects(particles, include_hadrons=include_hadrons, cone=cone)
    pt, eta, _ = _pt_eta_phi(objs[:, 0], objs[:, 1], objs[:, 2])
    objs = objs[(pt > pt_min) & (np.abs(eta) < eta_max)]
    if len(objs) < 2:
        return False
    m = _mass(objs[:, None, :] + objs[None, :, :])
    return bool(np.any(np.triu(m > mass_min, k=1)))


# Truth-level stand-in for the analysis selection (to measure what the pre-filter loses).
_CRYSTAL = 2.0 * math.pi / 360.0


def truth_selection(particles: np.ndarray, *, include_hadrons: bool = False) -> bool:
    """Truth-level emulation of the study's selection, used to validate the pre-filter (the
    real selection runs on reconstructed photons, elsewhere in the course).

    Photon candidates: photons and electrons (with ``include_hadrons``, all visible particles:
    a pessimistic stand-in for hadron energy left in the ECAL) within a 5 x 5-crystal window
    (|Delta eta|, |Delta phi| < 2.5 x 0.0174) around photon/electron seeds above 1 GeV.
    Selection: exactly two candidates with pT > 20 GeV and |eta| < 1.44; m > 90 GeV;
    leading pT > m/3; subleading pT > m/4.
    """
    aid = np.abs(particles["pdg_id"])
    em = (aid == 11) | (aid == 22)
    member = ~_not_seen(aid) if include_hadrons else em
    cl = _clusters(particles, member, em, 1.0, half_width=2.5 * _CRYSTAL)
    pt, eta, _ = _pt_eta_phi(cl[:, 0], cl[:, 1], cl[:, 2])
    good = (pt > 20.0) & (np.abs(eta) < 1.44)
    if good.sum() != 2:
        return False
    pts = np.sort(pt[good])[::-1]
    m = float(_mass(cl[good].sum(axis=0)))
    return m > 90.0 and pts[0] > m / 3.0 and pts[1] > m / 4.0


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventTruth:
    """Generator truth of one event yielded by :func:`generate_with_truth`.

    The counters and the cross section are running values: those of the last event are the
    final ones of the run.
    """

    #: Process name ("h", "gg" or "gj").
    process: str
    #: Transverse momentum of the hard 2 -> 2 process, GeV (0 for the 2 -> 1 process gg -> H).
    pt_hat: float
    #: Invariant mass of the hard process, GeV (the Higgs mass drawn from its Breit-Wigner).
    m_hat: float
    #: Event weight (1 for Pythia's default unweighted events).
    weight: float
    #: Outgoing hard-process particles before showers (PARTICLE_DTYPE, vertex 0): the two
    #: Higgs photons, the two prompt photons, or the photon and the parton.
    hard_process: np.ndarray
    #: Hard processes drawn so far, including those the pre-filter removed (Info.nSelected).
    n_tried: int
    #: Complete events generated so far (passed stage 1 of the pre-filter; Info.nAccepted).
    n_generated: int
    #: Events yielded so far, this one included.
    n_kept: int
    #: Pythia's running cross-section estimate of the generated events, mb (Info.sigmaGen;
    #: with the pre-filter it already includes stage 1).
    sigma_mb: float
    #: Its statistical uncertainty, mb (Info.sigmaErr).
    sigma_err_mb: float

    @property
    def filter_efficiency(self) -> float:
        """Fraction of drawn hard processes that were kept (1 without pre-filter)."""
        return self.n_kept / self.n_tried

    @property
    def sigma_kept_mb(self) -> float:
        """Cross section of the kept events, mb: Pythia's estimate times the stage-2 efficiency."""
        return self.sigma_mb * self.n_kept / self.n_generated


_MAX_FAILURES_IN_A_ROW = 100


def generate_with_truth(
    process: str,
    n_events: int,
    seed: int,
    *,
    mpi: bool = True,
    prefilter: bool = False,
    max_tries: int | None = None,
) -> Iterator[tuple[np.ndarray, EventTruth]]:
    """Generate ``n_events`` pp events at 8 TeV of ``process`` ("h", "gg", "gj"); yield
    (particles, truth) per event, particles a :data:`PARTICLE_DTYPE` array.

    ``seed`` (1..900 000 000) fixes the output: the same arguments give identical events.
    ``mpi`` switches multi-parton interactions (the underlying event; about 7-11 times slower).
    ``prefilter`` keeps drawing until ``n_events`` events pass both stages of the pre-filter:
    :func:`passes_hard_process_cut` (vetoed inside Pythia before showers, so rejected events
    cost almost nothing; "gg" and "gj" only, see :attr:`ProcessInfo.hard_cut`) and
    :func:`em_enriched`. ``truth.n_tried`` counts every hard process
    drawn, so ``truth.filter_efficiency`` and ``truth.sigma_kept_mb`` give the efficiency and
    the cross section of the kept sample. ``max_tries`` (optional) raises ``RuntimeError``
    once that many hard processes were drawn without completing the sample.
    Arguments are checked at the call (``ValueError``), Pythia starts at the first event.
    """
    info = process_info(process)
    n_events = _check_count(n_events, "n_events")
    seed = _check_seed(seed)
    if max_tries is not None:
        max_tries = _check_count(max_tries, "max_tries")
    return _events(info, n_events, seed, bool(mpi), bool(prefilter), max_tries)


def _events(
    info: ProcessInfo, n_events: int, seed: int, mpi: bool, prefilter: bool, max_tries: int | None
) -> Iterator[tuple[np.ndarray, EventTruth]]:
    pythia = pythia8mc.Pythia("", False)
    # Kept in a local variable: Pythia holds only a C++ pointer to the Python hook.
    hook = _HardProcessVeto(HARD_ETA_MAX, HARD_MASS_MIN) if prefilter and info.hard_cut else None
    for setting in [*_common_settings(seed, mpi), *info.settings]:
        if not pythia.readString(setting):
            raise RuntimeError(f"Pythia did not accept the setting {setting!r}")
    if hook is not None:
        pythia.setUserHooksPtr(hook)
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for process {info.name!r}")

    kept = 0
    failures = 0
    while kept < n_events:
        ok = pythia.next()
        stats = pythia.infoPython()
        if max_tries is not None and stats.nSelected() > max_tries:
            raise RuntimeError(
                f"max_tries={max_tries} hard processes drawn but only {kept} of {n_events} "
                f"{info.name!r} events kept"
            )
        if not ok:
            failures += 1
            if failures > _MAX_FAILURES_IN_A_ROW:
                raise RuntimeError(f"Pythia failed {failures} times in a row for {info.name!r}")
            continue
        failures = 0
        if prefilter:  # decided on ids and four-momenta, before reading the rest of the event
            record = _read_kinematics(pythia.event)
            if not em_enriched(record.kinematics):
                continue
            particles = _complete(record)
        else:
            particles = _final_state(pythia.event)
        kept += 1
        truth = EventTruth(
            process=info.name,
            pt_hat=float(stats.pTHat()),
            m_hat=float(stats.mHat()),
            weight=float(stats.weight()),
            hard_process=_hard_process(pythia.process),
            n_tried=int(stats.nSelected()),
            n_generated=int(stats.nAccepted()),
            n_kept=kept,
            sigma_mb=float(stats.sigmaGen()),
            sigma_err_mb=float(stats.sigmaErr()),
        )
        yield particles, truth


def generate(
    process: str,
    n_events: int,
    seed: int,
    *,
    mpi: bool = True,
    prefilter: bool = False,
    max_tries: int | None = None,
) -> Iterator[np.ndarray]:
    """Like :func:`generate_with_truth`, yielding only the particles of each event."""
    events = generate_with_truth(
        process, n_events, seed, mpi=mpi, prefilter=prefilter, max_tries=max_tries
    )
    return (particles for particles, _ in events)


# --------------------------------------------------------------------------------------------
# Particle gun
# --------------------------------------------------------------------------------------------

#: PDG ids the gun shoots: photon, e-/e+, mu-/mu+, pi+/pi-, K+/K-, K0_L, proton, neutron, pi0.
#: All but the pi0 are stable in the detector; the pi0 is decayed to gamma gamma at once
#: (its 99% mode; c tau = 25 nm, so its photons start at the gun's vertex).
GUN_PDG_IDS = (22, 11, -11, 13, -13, 211, -211, 321, -321, 130, 2212, 2112, 111)


def _broadcast(value, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.size != n):
        raise ValueError(f"{name} must be a number or have length n={n}, got shape {arr.shape}")
    return np.broadcast_to(arr, (n,))


def particle_gun(
    pdg_id: int,
    energy: float | np.ndarray,
    eta: float | np.ndarray,
    phi: float | np.ndarray,
    *,
    n: int = 1,
    vertex: tuple[float, float, float] = (0.0, 0.0, 0.0),
    seed: int = 1,
) -> list[np.ndarray]:
    """``n`` single-particle events: a particle of type ``pdg_id`` with total energy ``energy``
    (GeV), pseudorapidity ``eta`` and azimuth ``phi`` (rad), produced at ``vertex`` (metres).

    ``energy``, ``eta`` and ``phi`` are numbers or arrays of length ``n`` (one per event).
    Returns a list of ``n`` :data:`PARTICLE_DTYPE` arrays: one row (origin ORIGIN_HARD), or for
    a pi0 its two decay photons (origin ORIGIN_DECAY, mother_id 111), drawn isotropically in the
    pi0 rest frame with a numpy generator seeded by ``seed``. Masses and charges come from the
    ``particle`` package.
    """
    is_int = isinstance(pdg_id, (int, np.integer)) and not isinstance(pdg_id, bool)
    if not is_int or int(pdg_id) not in GUN_PDG_IDS:
        raise ValueError(
            f"unknown PDG id {pdg_id!r} for the particle gun; valid ids are {GUN_PDG_IDS}"
        )
    pdg_id = int(pdg_id)
    n = _check_count(n, "n")
    vx, vy, vz = (float(v) for v in vertex)
    if not all(math.isfinite(v) for v in (vx, vy, vz)):
        raise ValueError(f"vertex must be finite (metres), got {vertex!r}")
    mass = mass_of(pdg_id)
    energy = _broadcast(energy, n, "energy")
    eta = _broadcast(eta, n, "eta")
    phi = _broadcast(phi, n, "phi")
    bad = ~np.isfinite(energy) | (energy <= mass) | (energy <= 0.0)
    if bad.any():
        e_bad = energy[bad][0]
        raise ValueError(
            f"energy {e_bad} GeV is not above the mass of PDG id {pdg_id} ({mass:.6g} GeV); "
            f"valid energies are finite and > {mass:.6g} GeV"
        )
    if not np.all(np.isfinite(eta)):
        raise ValueError(f"eta must be finite, got {eta[~np.isfinite(eta)][0]}")
    if not np.all(np.isfinite(phi)):
        raise ValueError(f"phi must be finite (radians), got {phi[~np.isfinite(phi)][0]}")

    p = np.sqrt((energy - mass) * (energy + mass))
    pt = p / np.cosh(eta)
    mom = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), energy], axis=1)

    if pdg_id != 111:
        q = charge_of(pdg_id)
        return [
            np.array([(pdg_id, q, *mom[i], vx, vy, vz, ORIGIN_HARD, 0)], dtype=PARTICLE_DTYPE)
            for i in range(n)
        ]

    # pi0 -> gamma gamma: back-to-back photons of energy m/2 in the rest frame, boosted.
    rng = np.random.default_rng(seed)
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi_r = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    k = 0.5 * mass
    rest = np.stack([k * sin_t * np.cos(phi_r), k * sin_t * np.sin(phi_r), k * cos_t], axis=1)
    events = []
    for i in range(n):
        photons = [_boost(np.append(sign * rest[i], k), mom[i], mass) for sign in (1.0, -1.0)]
        events.append(
            np.array(
                [(22, 0.0, *p4, vx, vy, vz, ORIGIN_DECAY, 111) for p4 in photons],
                dtype=PARTICLE_DTYPE,
            )
        )
    return events


def _boost(p4: np.ndarray, parent: np.ndarray, mass: float) -> np.ndarray:
    """Boost (px, py, pz, e) from the rest frame of a parent of four-momentum ``parent``
    (px, py, pz, e; GeV) and mass ``mass`` (GeV) to the frame where it has that momentum."""
    p3 = parent[:3]
    gamma = parent[3] / mass
    beta = p3 / parent[3]
    b2 = float(beta @ beta)
    if b2 == 0.0:
        return p4
    bp = float(beta @ p4[:3])
    coef = (gamma - 1.0) * bp / b2 + gamma * p4[3]
    return np.append(p4[:3] + coef * beta, gamma * (p4[3] + bp))
