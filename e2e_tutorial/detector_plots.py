"""Figures, small measurements and the coordinate widget of chapter 2.1 (seminar sections
2.1-2.3.5): how particles leave their traces in the CMS-like detector of
:mod:`e2e_tutorial.detector`.

The physics lives elsewhere: coordinates in :mod:`e2e_tutorial.coordinates`, generation in
:mod:`e2e_tutorial.generation`, the detector model in :mod:`e2e_tutorial.detector`, images in
:mod:`e2e_tutorial.images` and shower-shape sums in :mod:`e2e_tutorial.reconstruction`. This
module only combines them into what the chapter shows: tables, figures, one widget, and
:func:`shoot`, which fires a particle gun through the detector and records what each event
left behind.

Units: GeV, metres, radians (tesla for the field). Every figure function draws on the axes it
is given (or makes its own figure) and returns them; each artist a reader or a test may want
to find carries a ``gid`` (listed in the function's docstring).

Public API
----------
Constants: :data:`ECAL_TDR_CONTAINMENT`, :data:`GUN_DTYPE`.
Tables: :class:`Species`, :func:`species_table`, :func:`species_table_html`,
:func:`parameter_table_html`.
Numbers: :class:`Acceptance`, :func:`acceptance`, :func:`opening_angle`, :func:`deflection`,
:func:`one_crystal_pt`, :func:`transverse_trajectory`, :func:`ecal_resolution`,
:func:`hadron_resolution`, :func:`shoot`, :func:`containment`, :func:`energy_sharing`.
Figures: :func:`plot_eta_theta`, :func:`plot_directions`, :func:`plot_eta_distribution`,
:func:`plot_tracks`, :func:`plot_deflection`, :func:`plot_crystals`, :func:`plot_containment`,
:func:`plot_resolution`, :func:`plot_histograms`, :func:`plot_energy_sharing`.
Widget: :class:`CoordinateExplorer`.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle, Wedge
from matplotlib.ticker import FuncFormatter, NullFormatter
from numpy.typing import ArrayLike, NDArray
from particle import Particle

from e2e_tutorial import generation, images, reconstruction
from e2e_tutorial.coordinates import (
    CMS_ECAL_BARREL_ETA_MAX,
    CRYSTAL_DPHI,
    ECAL_ETA_MAX,
    ecal_index,
    eta_to_theta,
    in_ecal_barrel,
)
from e2e_tutorial.detector import (
    DEFAULT,
    DetectorParams,
    bending_radius,
    looper_pt_threshold,
    propagate_to_radius,
    simulate,
)

__all__ = [
    "ECAL_TDR_CONTAINMENT",
    "GUN_DTYPE",
    "Species",
    "species_table",
    "species_table_html",
    "parameter_table_html",
    "opening_angle",
    "Acceptance",
    "acceptance",
    "deflection",
    "one_crystal_pt",
    "transverse_trajectory",
    "ecal_resolution",
    "hadron_resolution",
    "shoot",
    "containment",
    "energy_sharing",
    "plot_eta_theta",
    "plot_directions",
    "plot_eta_distribution",
    "plot_tracks",
    "plot_deflection",
    "plot_crystals",
    "plot_containment",
    "plot_resolution",
    "plot_histograms",
    "plot_energy_sharing",
    "CoordinateExplorer",
]

#: Fraction of a photon's energy in 1 x 1, 3 x 3 and 5 x 5 crystals around its impact crystal,
#: for a photon hitting the centre of a crystal: the ECAL TDR (CERN-LHCC-97-033,
#: ``cmsecaltdr1997``) numbers that the detector model's shower profile is fitted to.
ECAL_TDR_CONTAINMENT: dict[int, float] = {1: 0.80, 3: 0.94, 5: 0.97}

#: One particle-gun event after the detector (:func:`shoot`). Energies in GeV, angles in
#: radians. ``ecal_sum`` / ``hcal_sum``: all ECAL crystals / HCAL towers of the event;
#: ``track_pt``: summed measured pT of its reconstructed tracks; ``e_seed``, ``e3x3``,
#: ``e5x5``, ``r9``, ``sigma_ieta_ieta`` (eta units): the leading photon candidate of
#: :func:`e2e_tutorial.reconstruction.photon_candidates` (NaN when there is none);
#: ``n_candidates``: how many candidates the event has.
GUN_DTYPE = np.dtype(
    [
        ("pdg_id", "i4"),
        ("energy", "f8"),
        ("eta", "f8"),
        ("phi", "f8"),
        ("ecal_sum", "f8"),
        ("hcal_sum", "f8"),
        ("n_tracks", "i4"),
        ("track_pt", "f8"),
        ("n_candidates", "i4"),
        ("e_seed", "f8"),
        ("e3x3", "f8"),
        ("e5x5", "f8"),
        ("r9", "f8"),
        ("sigma_ieta_ieta", "f8"),
    ]
)

# Colours used throughout the chapter's figures.
_C_BARREL = "#2f6db5"  # reaches the ECAL barrel
_C_TRACKER = "#d9661f"  # inside the tracker acceptance only
_C_OUTSIDE = "#8c8c8c"  # outside both
_C_FORMULA = "#222222"


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _check_energy(energy: ArrayLike, name: str = "energy") -> NDArray[np.float64]:
    e = np.asarray(energy, dtype=np.float64)
    bad = ~np.isfinite(e) | (e <= 0)
    if bad.any():
        raise ValueError(f"{name} must be finite and > 0 GeV; got {e[bad].ravel()[0]!r}")
    return e


# ---------------------------------------------------------------------------------------------
# Seminar 2.2: what a collision leaves
# ---------------------------------------------------------------------------------------------


class Species(NamedTuple):
    """One row of :func:`species_table`."""

    name: str  #: PDG name from the ``particle`` package, e.g. "pi+"
    latex: str  #: LaTeX symbol from the ``particle`` package, e.g. "\\pi^{+}"
    pdg_id: int
    charge: float  #: units of e
    count: int


def species_table(particles: np.ndarray) -> list[Species]:
    """The species in an event's final state, one :class:`Species` row each.

    ``particles`` is a :data:`generation.PARTICLE_DTYPE <e2e_tutorial.generation.PARTICLE_DTYPE>`
    array. Names, symbols and charges come from the ``particle`` package (Particle Data
    Group tables); rows are sorted by decreasing count, then by PDG id.
    """
    if (not isinstance(particles, np.ndarray) or particles.dtype.names is None
            or "pdg_id" not in particles.dtype.names):
        raise ValueError(
            "particles must be a structured array with a 'pdg_id' field (generation.PARTICLE_DTYPE); "
            f"got {type(particles).__name__} of dtype {getattr(particles, 'dtype', None)}"
        )
    counts = Counter(int(p) for p in particles["pdg_id"])
    rows = []
    for pid, n in counts.items():
        part = Particle.from_pdgid(pid)
        rows.append(Species(part.name, part.latex_name, pid, float(part.charge), n))
    return sorted(rows, key=lambda r: (-r.count, r.pdg_id))


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table of already escaped (or marked-up) cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def species_table_html(particles: np.ndarray) -> str:
    """:func:`species_table` as an HTML table (name, symbol, PDG id, charge, count), for
    ``IPython.display.HTML``; symbols are the ``particle`` package's HTML names."""
    rows = []
    for sp in species_table(particles):
        rows.append((f"<code>{html.escape(sp.name)}</code>", Particle.from_pdgid(sp.pdg_id).html_name,
                     str(sp.pdg_id), f"{sp.charge:+.0f}" if sp.charge else "0", str(sp.count)))
    return _html_table(("name", "symbol", "PDG id", "charge (e)", "count"), rows)


def parameter_table_html(params: DetectorParams = DEFAULT) -> str:
    """:func:`e2e_tutorial.detector.parameter_table` as an HTML table (parameter, value, unit,
    source, meaning), for ``IPython.display.HTML``. Sources are bib keys of the book."""
    from e2e_tutorial.detector import parameter_table

    rows = [(f"<code>{html.escape(name)}</code>", f"{value:g}", html.escape(unit) or "–",
             html.escape(source), html.escape(meaning))
            for name, value, unit, source, meaning in parameter_table(params)]
    return _html_table(("parameter", "value", "unit", "source", "meaning"), rows)


def opening_angle(p1: np.ndarray, p2: np.ndarray) -> NDArray[np.float64]:
    """Angle (radians) between the momenta of two particles (rows or arrays of
    PARTICLE_DTYPE, or anything with fields px, py, pz in GeV)."""
    a = np.stack([np.asarray(p1[k], dtype=np.float64) for k in ("px", "py", "pz")], axis=-1)
    b = np.stack([np.asarray(p2[k], dtype=np.float64) for k in ("px", "py", "pz")], axis=-1)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.arctan2(cross, np.sum(a * b, axis=-1))


# ---------------------------------------------------------------------------------------------
# Seminar 2.3.1: coordinates and acceptance
# ---------------------------------------------------------------------------------------------


class Acceptance(NamedTuple):
    """Which parts of the detector a straight line from the origin at pseudorapidity eta meets."""

    #: Inside the course's 170 x 360 crystal grid, |eta| <= 1.4835 (coordinates.ECAL_ETA_MAX).
    ecal_grid: np.bool_ | NDArray[np.bool_]
    #: Inside the real CMS ECAL barrel, |eta| < 1.479 (cms2008).
    cms_barrel: np.bool_ | NDArray[np.bool_]
    #: Inside the tracker acceptance, |eta| < 2.5 (cms2008; DetectorParams.tracker_eta_max).
    tracker: np.bool_ | NDArray[np.bool_]


def acceptance(eta: ArrayLike, params: DetectorParams = DEFAULT) -> Acceptance:
    """:class:`Acceptance` of pseudorapidity ``eta`` (number or array; +-inf allowed)."""
    e = np.asarray(eta, dtype=np.float64)
    if np.isnan(e).any():
        raise ValueError("eta must be a number (+-inf allowed), got NaN")
    grid = np.asarray(in_ecal_barrel(e))
    out = Acceptance(grid, np.abs(e) < CMS_ECAL_BARREL_ETA_MAX, np.abs(e) < params.tracker_eta_max)
    if e.ndim == 0:
        return Acceptance(*(np.bool_(v) for v in out))
    return out


def _barrel_half_length(params: DetectorParams) -> float:
    """|z| (m) of the ends of the ECAL-barrel front face: r sinh(eta_max) = 2.67 m."""
    return float(params.ecal_radius_m * np.sinh(ECAL_ETA_MAX))


def _acceptance_bands(ax: Axes, params: DetectorParams, *, horizontal: bool) -> None:
    """Shade |eta| < 1.479 (ECAL barrel, gid "band-barrel") and 1.479 < |eta| < 2.5 (tracker
    only, gid "band-tracker") along the y axis (``horizontal``) or the x axis."""
    span = ax.axhspan if horizontal else ax.axvspan
    b, t = CMS_ECAL_BARREL_ETA_MAX, params.tracker_eta_max
    span(-b, b, color=_C_BARREL, alpha=0.16, lw=0, gid="band-barrel",
         label=rf"ECAL barrel, $|\eta| < {b}$")
    for k, (lo, hi) in enumerate(((b, t), (-t, -b))):
        span(lo, hi, color=_C_TRACKER, alpha=0.13, lw=0, gid="band-tracker",
             label=rf"tracker only, ${b} < |\eta| < {t:g}$" if k == 0 else None)


def _colour(eta: float, params: DetectorParams) -> str:
    acc = acceptance(eta, params)
    if acc.ecal_grid:
        return _C_BARREL
    return _C_TRACKER if acc.tracker else _C_OUTSIDE


def plot_eta_theta(ax: Axes | None = None, params: DetectorParams = DEFAULT) -> Axes:
    """Seminar Eq. (1) drawn: pseudorapidity against the polar angle theta, with the edges
    of the ECAL barrel (CMS's 1.479 and the course grid's 1.4835) and of the tracker (2.5)
    marked on the positive side, and eta = 0 (perpendicular to the beam).

    gids: ``"curve"``, ``"marker-perpendicular"``, ``"marker-barrel"``, ``"marker-grid"``,
    ``"marker-tracker"``, and the shaded bands ``"band-barrel"``, ``"band-tracker"``.
    """
    ax = _new_axes(ax, (7.0, 4.2))
    theta = np.linspace(0.04, np.pi - 0.04, 400)
    eta = -np.log(np.tan(theta / 2.0))
    ax.plot(theta, eta, color=_C_FORMULA, lw=1.8, gid="curve", label=r"$\eta = -\ln\tan(\theta/2)$")
    _acceptance_bands(ax, params, horizontal=True)
    marks = [
        ("perpendicular", 0.0, "o"),
        ("barrel", CMS_ECAL_BARREL_ETA_MAX, "s"),
        ("grid", ECAL_ETA_MAX, "D"),
        ("tracker", params.tracker_eta_max, "^"),
    ]
    for name, e, marker in marks:
        t = float(eta_to_theta(e))
        ax.plot([t], [e], marker=marker, ms=7, color=_C_FORMULA, mfc="white", ls="none",
                gid=f"marker-{name}")
    t_b, t_g, t_t = (float(eta_to_theta(e)) for e in
                     (CMS_ECAL_BARREL_ETA_MAX, ECAL_ETA_MAX, params.tracker_eta_max))
    notes = [
        (0.0, np.pi / 2, r"$\eta = 0$, $\theta = \pi/2$ (90°): perpendicular to the beam",
         (1.72, 1.0)),
        (CMS_ECAL_BARREL_ETA_MAX, t_b,
         rf"ECAL barrel edge: $\eta$ = {CMS_ECAL_BARREL_ETA_MAX} (CMS, square)"
         rf" or {ECAL_ETA_MAX:.4f} (course grid, diamond)" "\n"
         rf"$\theta$ = {t_b:.3f} rad ({np.degrees(t_b):.1f}°) or {t_g:.3f} rad ({np.degrees(t_g):.1f}°)",
         (0.62, 1.95)),
        (params.tracker_eta_max, t_t,
         rf"tracker edge: $\eta$ = {params.tracker_eta_max:g}, $\theta$ = {t_t:.3f} rad"
         rf" ({np.degrees(t_t):.1f}°)", (0.45, 2.85)),
    ]
    for e, t, text, xy_text in notes:
        ax.annotate(text, (t, e), xytext=xy_text, fontsize=8.5, va="center",
                    arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.8},
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.set_xlim(0.0, np.pi)
    ax.set_ylim(-4.0, 4.0)
    ax.set_xlabel(r"polar angle $\theta$ (rad)")
    ax.set_ylabel(r"pseudorapidity $\eta$")
    top = ax.secondary_xaxis("top", functions=(np.degrees, np.radians))
    top.set_xlabel(r"$\theta$ (degrees)")
    ax.legend(loc="upper right", fontsize=8.5)
    ax.grid(alpha=0.3)
    return ax


def _endpoint_rz(eta: float, params: DetectorParams) -> tuple[float, float]:
    """(z, rho) in metres where a straight line at ``eta`` from the origin leaves the
    cylinder of the ECAL-barrel front face (radius r, half-length r sinh(eta_max))."""
    r = params.ecal_radius_m
    z_end = _barrel_half_length(params)
    z_at_r = r * np.sinh(eta)
    if abs(z_at_r) <= z_end:
        return float(z_at_r), r
    return float(np.sign(eta) * z_end), float(z_end / abs(np.sinh(eta)))


def plot_directions(
    etas: ArrayLike,
    phis: ArrayLike,
    axes: Sequence[Axes] | None = None,
    params: DetectorParams = DEFAULT,
    *,
    labels: bool = True,
) -> tuple[Axes, Axes]:
    """Straight-line directions (eta, phi) from the collision point in two views: the
    transverse x-y plane and the rho-z plane (the plane through the beam and the particle,
    rho = +-sqrt(x^2 + y^2) with the sign of y; for phi = 90 degrees it is the y-z plane).

    The ECAL barrel is drawn as its crystals: a layer ``params.crystal_length_m`` deep behind
    the front face at r = ``params.ecal_radius_m``, over |z| up to r sinh(1.4835) = 2.67 m.
    Each line ends where it leaves the cylinder of the front face. Colours: blue = reaches
    the barrel, orange = inside the tracker acceptance only, grey = neither. Dashed cones
    mark |eta| = 1.479 (barrel) and 2.5 (tracker) in the rho-z view.

    gids: ``"direction-<i>"`` (one line per direction in each view), ``"ecal-face"`` (the
    crystal layer, both views), ``"cone-barrel"`` and ``"cone-tracker"`` (rho-z view).
    """
    eta_a, phi_a = np.broadcast_arrays(np.atleast_1d(np.asarray(etas, float)),
                                       np.atleast_1d(np.asarray(phis, float)))
    if not (np.isfinite(eta_a).all() and np.isfinite(phi_a).all()):
        raise ValueError("etas and phis must be finite numbers (radians for phi)")
    if axes is None:
        fig = plt.figure(figsize=(10.0, 4.4), layout="constrained")
        axes = fig.subplots(1, 2, width_ratios=[1.0, 2.1])
    ax_xy, ax_rz = axes
    r = params.ecal_radius_m
    depth = params.crystal_length_m
    z_end = _barrel_half_length(params)
    ecal_style = {"facecolor": "#c9d9ee", "edgecolor": _C_BARREL, "lw": 1.0}

    # Transverse view: the crystal layer is an annulus.
    ax_xy.add_patch(Wedge((0, 0), r + depth, 0, 360, width=depth, gid="ecal-face", **ecal_style))
    # rho-z view: two slabs at rho = +-(r .. r + depth), |z| <= z_end.
    for sign in (1, -1):
        y0 = r if sign > 0 else -r - depth
        ax_rz.add_patch(Rectangle((-z_end, y0), 2 * z_end, depth, gid="ecal-face",
                                  label=f"ECAL barrel crystals, from r = {r} m" if sign > 0 else None,
                                  **ecal_style))
    zmax = 3.6
    for name, e, colour in (("cone-barrel", CMS_ECAL_BARREL_ETA_MAX, _C_BARREL),
                            ("cone-tracker", params.tracker_eta_max, _C_TRACKER)):
        slope = 1.0 / np.sinh(e)
        for sz in (1, -1):
            for sr in (1, -1):
                ax_rz.plot([0, sz * zmax], [0, sr * zmax * slope], ls="--", lw=0.9, color=colour,
                           gid=name, label=rf"$|\eta| = {e:g}$" if sz > 0 and sr > 0 else None)
    for i, (e, p) in enumerate(zip(eta_a, phi_a)):
        colour = _colour(e, params)
        z1, rho1 = _endpoint_rz(e, params)
        ax_xy.plot([0, rho1 * np.cos(p)], [0, rho1 * np.sin(p)], color=colour, lw=2.2,
                   marker="o", markevery=[1], ms=4.5, gid=f"direction-{i}")
        sign = 1.0 if np.sin(p) >= 0 else -1.0
        ax_rz.plot([0, z1], [0, sign * rho1], color=colour, lw=2.2, marker="o", markevery=[1],
                   ms=4.5, gid=f"direction-{i}")
        if labels:
            on_face = np.isclose(rho1, r)
            if on_face:  # beyond the crystal layer, above or below it
                offset, ha, va = (0, 11 * sign), "center", "center"
            else:  # beside the end of the line
                offset, ha, va = (5 if z1 >= 0 else -5, 0), "left" if z1 >= 0 else "right", "center"
            ax_rz.annotate(rf"$\eta$ = {e:.2f}", (z1, sign * (r + depth) if on_face else sign * rho1),
                           xytext=offset, textcoords="offset points", fontsize=8, color=colour,
                           ha=ha, va=va)
    lim = r + depth + 0.25
    ax_xy.set_xlim(-lim, lim)
    ax_xy.set_ylim(-lim, lim)
    ax_xy.set_aspect("equal")
    ax_xy.set_xlabel("x (m), towards the LHC centre")
    ax_xy.set_ylabel("y (m), up")
    ax_xy.set_title(r"transverse plane: the azimuth $\varphi$", fontsize=10)
    ax_rz.set_xlim(-zmax, zmax)
    ax_rz.set_ylim(-lim, lim)
    ax_rz.set_aspect("equal")
    ax_rz.set_xlabel("z (m), along the beam")
    ax_rz.set_ylabel(r"$\pm\sqrt{x^2+y^2}$ (m), sign of y")
    ax_rz.set_title(r"plane through the beam and the particle: $\theta$ and $\eta$", fontsize=10)
    ax_rz.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncol=3,
                 frameon=False)
    for ax in (ax_xy, ax_rz):
        ax.plot([0], [0], marker="*", color="k", ms=9)
        ax.grid(alpha=0.25)
    return ax_xy, ax_rz


def plot_eta_distribution(
    events: Sequence[np.ndarray],
    ax: Axes | None = None,
    params: DetectorParams = DEFAULT,
    *,
    bins: ArrayLike = np.linspace(-8.0, 8.0, 65),
) -> Axes:
    """Pseudorapidity of the final-state particles of ``events`` (PARTICLE_DTYPE arrays),
    per event and per unit of eta, split into charged and neutral particles, with the
    hard-process particles (origin ORIGIN_HARD, e.g. the Higgs photons) drawn on top and the
    barrel and tracker acceptance shaded. Particles along the beam (pT = 0) are left out.

    gids: ``"hist-charged"``, ``"hist-neutral"``, ``"hist-hard"``, ``"band-barrel"``,
    ``"band-tracker"``.
    """
    if len(events) == 0:
        raise ValueError("events must hold at least one event")
    ax = _new_axes(ax, (8.0, 4.0))
    bins = np.asarray(bins, dtype=float)
    allp = np.concatenate(list(events))
    pt = np.hypot(allp["px"], allp["py"])
    allp, pt = allp[pt > 0], pt[pt > 0]
    eta = np.arcsinh(allp["pz"] / pt)
    width = np.diff(bins)
    n_ev = len(events)
    _acceptance_bands(ax, params, horizontal=False)
    groups = [
        ("charged", allp["charge"] != 0, "#333333", "charged particles"),
        ("neutral", allp["charge"] == 0, "#2a9d8f", "neutral particles"),
        ("hard", allp["origin"] == generation.ORIGIN_HARD, "#c0392b", "hard-process particles"),
    ]
    for name, sel, colour, label in groups:
        h, _ = np.histogram(eta[sel], bins=bins)
        art = mplhep.histplot(h / n_ev / width, bins, ax=ax, color=colour, lw=1.6,
                              label=label)
        art[0].stairs.set_gid(f"hist-{name}")
    ax.set_xlabel(r"pseudorapidity $\eta$")
    ax.set_ylabel(r"particles per event per unit $\eta$")
    ax.set_xlim(bins[0], bins[-1])
    ax.legend(fontsize=8.5, loc="upper right")
    ax.set_title(f"final-state particles of {n_ev} event(s)", fontsize=10)
    return ax


class CoordinateExplorer:
    """An ipywidgets explorer of the CMS coordinates (seminar 2.3.1).

    Two sliders set eta and phi (radians); the readout shows theta in radians and degrees,
    the crystal (ieta, iphi) the direction points at, and whether it lies inside the ECAL
    barrel and the tracker acceptance; a picture shows the direction in the transverse and
    rho-z views (:func:`plot_directions`). Display ``explorer.widget``. The static book shows
    only the state saved at build time, so the chapter pairs it with static figures.

    Attributes: ``eta_slider``, ``phi_slider`` (FloatSlider), ``readout`` (HTML), ``picture``
    (Image, PNG), ``widget`` (the VBox holding them), ``values`` (dict of what the readout
    shows). :meth:`update` recomputes everything; the sliders call it on every change.
    """

    def __init__(self, eta: float = 0.5, phi: float = 1.0, params: DetectorParams = DEFAULT):
        import ipywidgets as widgets

        self.params = params
        self.eta_slider = widgets.FloatSlider(
            value=eta, min=-3.0, max=3.0, step=0.01, description="η",
            continuous_update=False, readout_format=".2f",
        )
        self.phi_slider = widgets.FloatSlider(
            value=phi, min=-np.pi, max=np.pi, step=0.01, description="φ (rad)",
            continuous_update=False, readout_format=".2f",
        )
        self.readout = widgets.HTML()
        self.picture = widgets.Image(format="png")
        self._figure = Figure(figsize=(9.5, 4.1), dpi=80, layout="constrained")
        self.values: dict[str, object] = {}
        self.widget = widgets.VBox(
            [widgets.HBox([self.eta_slider, self.phi_slider]), self.readout, self.picture]
        )
        self.eta_slider.observe(self._on_change, names="value")
        self.phi_slider.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict) -> None:
        self.update()

    def update(self) -> None:
        """Recompute the readout and redraw the picture from the sliders' values."""
        eta = float(self.eta_slider.value)
        phi = float(self.phi_slider.value)
        theta = float(eta_to_theta(eta))
        acc = acceptance(eta, self.params)
        crystal = tuple(int(i) for i in ecal_index(eta, phi)) if acc.ecal_grid else None
        z_hit = self.params.ecal_radius_m * np.sinh(eta)
        self.values = {
            "eta": eta,
            "phi": phi,
            "theta": theta,
            "theta_deg": float(np.degrees(theta)),
            "ecal_grid": bool(acc.ecal_grid),
            "cms_barrel": bool(acc.cms_barrel),
            "tracker": bool(acc.tracker),
            "crystal": crystal,
            "z_at_ecal_radius_m": float(z_hit),
        }

        def yes(flag: bool) -> str:
            return "<b style='color:#2a7a2a'>yes</b>" if flag else "<b style='color:#b03030'>no</b>"

        where = (
            f"crystal (iη, iφ) = {crystal}" if crystal is not None
            else "no barrel crystal: the particle leaves through the endcap region"
        )
        lines = [
            f"η = {eta:.2f}, φ = {phi:.2f} rad → θ = {theta:.3f} rad = {np.degrees(theta):.1f}°",
            f"crosses r = {self.params.ecal_radius_m} m at z = {z_hit:.2f} m; {html.escape(where)}",
            f"ECAL barrel (|η| &lt; {CMS_ECAL_BARREL_ETA_MAX}): {yes(bool(acc.cms_barrel))}"
            f" &nbsp; course grid (|η| ≤ {ECAL_ETA_MAX:.4f}): {yes(bool(acc.ecal_grid))}"
            f" &nbsp; tracker (|η| &lt; {self.params.tracker_eta_max:g}): {yes(bool(acc.tracker))}",
        ]
        self.readout.value = "<br>".join(lines)
        self._figure.clear()
        axes = self._figure.subplots(1, 2, width_ratios=[1.0, 2.0])
        plot_directions([eta], [phi], axes=axes, params=self.params)
        buf = io.BytesIO()
        self._figure.savefig(buf, format="png")
        self.picture.value = buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Seminar 2.3.2: tracks in the solenoid
# ---------------------------------------------------------------------------------------------


def deflection(pt: ArrayLike, charge: ArrayLike, params: DetectorParams = DEFAULT) -> NDArray[np.float64]:
    """Azimuth at the ECAL face minus azimuth at the vertex, radians, for a particle of
    transverse momentum ``pt`` (GeV) and ``charge`` (e) from the origin, from
    :func:`e2e_tutorial.detector.propagate_to_radius`. NaN for loopers (pT below
    :func:`detector.looper_pt_threshold <e2e_tutorial.detector.looper_pt_threshold>`).
    Positive charges turn clockwise seen from +z (negative values)."""
    pt_a = _check_energy(pt, "pt")
    pt_a, q = np.broadcast_arrays(pt_a, np.asarray(charge, dtype=np.float64))
    zeros = np.zeros(pt_a.shape)
    reaches, x, y, _ = propagate_to_radius(zeros, zeros, zeros, pt_a, zeros, zeros, q,
                                           params.ecal_radius_m, params.b_field_t)
    return np.where(reaches, np.arctan2(y, x), np.nan)


def one_crystal_pt(params: DetectorParams = DEFAULT) -> float:
    """pT (GeV) above which a track from the origin (|q| = 1) turns by less than one crystal
    (2 pi / 360 rad) in azimuth before the ECAL face: sin(dphi) = r / 2R, so
    pT = 0.2998 B r / (2 sin(2 pi / 360)), about 42 GeV."""
    radius = params.ecal_radius_m / (2.0 * np.sin(CRYSTAL_DPHI))
    return float(looper_pt_threshold(params.b_field_t, 2.0 * radius))


def transverse_trajectory(
    pt: float,
    phi0: float,
    charge: float,
    params: DetectorParams = DEFAULT,
    n_points: int = 200,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points (x, y), metres, of the transverse path of a particle leaving the origin with
    transverse momentum ``pt`` (GeV) at azimuth ``phi0`` (rad), up to the ECAL face.

    A circle of radius R = pT / (0.2998 |q| B) turning clockwise for positive charges (the
    convention of :func:`e2e_tutorial.detector.propagate_to_radius`, whose impact point is the
    last point returned); a straight line for neutral particles. A looper (2R < r) is drawn
    as its full circle.
    """
    pt = float(_check_energy(pt, "pt"))
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2; got {n_points!r}")
    r = params.ecal_radius_m
    if charge == 0:
        s = np.linspace(0.0, r, n_points)
        return s * np.cos(phi0), s * np.sin(phi0)
    radius = float(bending_radius(pt, charge, params.b_field_t))
    w = -np.sign(charge)  # +1: counter-clockwise
    cx, cy = -w * radius * np.sin(phi0), w * radius * np.cos(phi0)
    alpha_end = 2.0 * np.arcsin(r / (2.0 * radius)) if 2.0 * radius >= r else 2.0 * np.pi
    alpha = np.linspace(0.0, alpha_end, n_points)
    ca, sa = np.cos(w * alpha), np.sin(w * alpha)
    dx, dy = -cx, -cy
    return cx + ca * dx - sa * dy, cy + sa * dx + ca * dy


def plot_tracks(
    pts: Sequence[float],
    ax: Axes | None = None,
    params: DetectorParams = DEFAULT,
    *,
    phi0: float = np.pi / 2,
    charges: Sequence[float] = (1.0, -1.0),
) -> Axes:
    """Charged tracks of transverse momenta ``pts`` (GeV), one per pT and charge, leaving
    the origin at azimuth ``phi0`` and bending in the solenoid field up to the ECAL face,
    seen along the beam (transverse plane). Solid: positive, dashed: negative charge.

    gids: ``"track-<q>-<pt>"`` per track (q = ``plus``/``minus``), ``"impact"`` markers where
    tracks reach the ECAL face, ``"ecal-face"``.
    """
    ax = _new_axes(ax, (5.5, 5.5))
    r = params.ecal_radius_m
    ax.add_patch(Circle((0, 0), r, fill=False, color=_C_BARREL, lw=2, gid="ecal-face"))
    ax.text(0.0, -r - 0.06, f"ECAL face, r = {r} m", ha="center", va="top", fontsize=8.5,
            color=_C_BARREL)
    cmap = plt.get_cmap("viridis")
    order = np.argsort(pts)
    for k, i in enumerate(order):
        pt = float(pts[i])
        colour = cmap(k / max(len(pts) - 1, 1) * 0.9)
        for q in charges:
            x, y = transverse_trajectory(pt, phi0, q, params)
            name = "plus" if q > 0 else "minus"
            ax.plot(x, y, color=colour, lw=1.8, ls="-" if q > 0 else "--",
                    gid=f"track-{name}-{pt:g}",
                    label=f"pT = {pt:g} GeV" if q == charges[0] else None)
            if np.isclose(np.hypot(x[-1], y[-1]), r):
                ax.plot([x[-1]], [y[-1]], "o", ms=4, color=colour, gid="impact")
    ax.plot([0], [0], marker="*", color="k", ms=10)
    lim = r * 1.12
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"B = {params.b_field_t} T along +z (out of the page); solid +, dashed −",
                 fontsize=9.5)
    ax.legend(fontsize=8, loc="lower left", title="positive and negative", title_fontsize=8)
    return ax


def plot_deflection(
    ax: Axes | None = None,
    params: DetectorParams = DEFAULT,
    *,
    pt_max: float = 500.0,
) -> Axes:
    """Delta phi at the ECAL face against pT for charges +1 and -1 (log pT axis), with the
    looper threshold and the width of one crystal (2 pi / 360) marked.

    gids: ``"deflection-plus"``, ``"deflection-minus"``, ``"looper"``, ``"crystal-band"``,
    ``"one-crystal-pt"`` (the pT of :func:`one_crystal_pt`).
    """
    ax = _new_axes(ax, (7.0, 4.2))
    pt_loop = looper_pt_threshold(params.b_field_t, params.ecal_radius_m)
    pt = np.geomspace(pt_loop * (1 + 1e-9), pt_max, 400)
    for q, name, ls in ((1.0, "plus", "-"), (-1.0, "minus", "--")):
        ax.plot(pt, deflection(pt, q, params), ls=ls, lw=2, color=_C_FORMULA if q > 0 else _C_TRACKER,
                gid=f"deflection-{name}", label=f"charge {'+' if q > 0 else '−'}1")
    ax.axvline(pt_loop, color="#b03030", lw=1.2, gid="looper",
               label=f"looper threshold {pt_loop:.3f} GeV")
    ax.axhspan(-CRYSTAL_DPHI, CRYSTAL_DPHI, color=_C_BARREL, alpha=0.2, gid="crystal-band",
               label=r"$\pm$ one crystal, $2\pi/360$ rad")
    pt_one = one_crystal_pt(params)
    ax.axvline(pt_one, color=_C_BARREL, lw=1.2, ls=":", gid="one-crystal-pt",
               label=f"bends by less than a crystal above {pt_one:.0f} GeV")
    ax.set_xscale("log")
    ax.set_xlim(pt_loop * 0.8, pt_max)
    ax.set_ylim(-1.7, 1.7)
    ax.set_xlabel(r"transverse momentum $p_T$ (GeV)")
    ax.set_ylabel(r"$\Delta\varphi$ at the ECAL face (rad)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8.5, loc="lower right")
    return ax


# ---------------------------------------------------------------------------------------------
# Seminar 2.3.3-2.3.5: calorimeters and muons, measured with a particle gun
# ---------------------------------------------------------------------------------------------


def ecal_resolution(energy: ArrayLike, params: DetectorParams = DEFAULT) -> NDArray[np.float64] | float:
    """sigma/E of the CMS ECAL (cms2008): a/sqrt(E) (+) n/E (+) c, summed in quadrature, with
    a = 2.8%, n = 0.12 GeV (noise of a 3 x 3 sum, three times the 40 MeV of one crystal) and
    c = 0.3% from ``params``. ``energy`` in GeV."""
    e = _check_energy(energy)
    out = np.sqrt((params.ecal_stochastic / np.sqrt(e)) ** 2
                  + (params.ecal_noise_3x3_gev / e) ** 2 + params.ecal_constant**2)
    return float(out) if out.ndim == 0 else out


def hadron_resolution(energy: ArrayLike, params: DetectorParams = DEFAULT) -> NDArray[np.float64] | float:
    """sigma/E of a hadron in ECAL + HCAL (cmshcaltdr1997, approximate): 100%/sqrt(E) (+) 5%,
    from ``params``. ``energy`` in GeV."""
    e = _check_energy(energy)
    out = np.sqrt((params.hadron_stochastic / np.sqrt(e)) ** 2 + params.hadron_constant**2)
    return float(out) if out.ndim == 0 else out


def shoot(
    pdg_id: int,
    energy: ArrayLike,
    eta: ArrayLike,
    phi: ArrayLike,
    *,
    n: int,
    seed: int,
    params: DetectorParams = DEFAULT,
) -> np.ndarray:
    """Fire ``n`` particles of ``pdg_id`` through the detector and return one
    :data:`GUN_DTYPE` row per event.

    ``energy`` (GeV), ``eta`` and ``phi`` (rad) are numbers or length-``n`` arrays, as for
    :func:`e2e_tutorial.generation.particle_gun` (a pi0 is decayed to two photons there). The
    chain is ``generation.particle_gun`` -> ``detector.simulate`` -> ``images.event_image`` ->
    ``reconstruction.photon_candidates``; ``seed`` seeds both the gun and the detector.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    events = generation.particle_gun(pdg_id, energy, eta, phi, n=int(n), seed=seed)
    rng = np.random.default_rng(seed)
    e_a, eta_a, phi_a = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (energy, eta, phi)), np.zeros(n)
    )[:3]
    out = np.zeros(n, dtype=GUN_DTYPE)
    out["pdg_id"] = pdg_id
    out["energy"], out["eta"], out["phi"] = e_a, eta_a, phi_a
    for i, particles in enumerate(events):
        resp = simulate(particles, rng, params)
        out["ecal_sum"][i] = resp.ecal_energy.sum()
        out["hcal_sum"][i] = resp.hcal_energy.sum()
        out["n_tracks"][i] = resp.track_pt.size
        out["track_pt"][i] = resp.track_pt.sum()
        cands = reconstruction.photon_candidates(images.event_image(resp))
        out["n_candidates"][i] = len(cands)
        for name in ("e_seed", "e3x3", "e5x5", "r9", "sigma_ieta_ieta"):
            out[name][i] = cands[0][name] if len(cands) else np.nan
    return out


def containment(gun: np.ndarray) -> dict[int, NDArray[np.float64]]:
    """Fraction of each event's ECAL energy in the 1 x 1, 3 x 3 and 5 x 5 crystals around the
    seed of its leading photon candidate: {1: e_seed / ecal_sum, 3: ..., 5: ...}."""
    return {1: gun["e_seed"] / gun["ecal_sum"], 3: gun["e3x3"] / gun["ecal_sum"],
            5: gun["e5x5"] / gun["ecal_sum"]}


def energy_sharing(gun: np.ndarray) -> tuple[float, float, float]:
    """Mean fractions of the gun energy seen in the ECAL, in the HCAL, and not seen by either
    (1 minus the two, floored at 0: smearing can make the sum exceed 1 for one event)."""
    ecal = float(np.mean(gun["ecal_sum"] / gun["energy"]))
    hcal = float(np.mean(gun["hcal_sum"] / gun["energy"]))
    return ecal, hcal, max(0.0, 1.0 - ecal - hcal)


def plot_crystals(
    image: NDArray,
    ieta: int,
    iphi: int,
    size: int = 7,
    ax: Axes | None = None,
    *,
    channel: int = 1,
    annotate: bool = True,
    vmin: float = 0.01,
) -> Axes:
    """The ``size`` x ``size`` crystals of one channel (default: ECAL) of a (3, 170, 360) event
    image around crystal (ieta, iphi), energies in GeV on a log colour scale, each crystal
    labelled with its energy. Uses :func:`e2e_tutorial.images.crop`.

    gids: ``"crystals"`` (the image), ``"crystal-label"`` (one text per crystal).
    """
    window = images.crop(np.asarray(image), ieta, iphi, size=size)[channel].astype(np.float64)
    ax = _new_axes(ax, (4.6, 4.0))
    half = size // 2
    extent = (-half - 0.5, size - half - 0.5, -half - 0.5, size - half - 0.5)
    positive = window > 0
    vmax = float(window.max()) if positive.any() else 1.0
    im = ax.imshow(np.ma.masked_where(window < vmin, window), origin="lower", extent=extent,
                   cmap="Blues", norm=LogNorm(vmin=vmin, vmax=max(vmax, vmin * 10)),
                   interpolation="nearest", gid="crystals")
    ax.figure.colorbar(im, ax=ax, label="energy (GeV)", shrink=0.85)
    if annotate:
        for a in range(size):
            for b in range(size):
                v = window[a, b]
                dark = v > vmax * 0.15
                ax.text(b - half, a - half, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black", gid="crystal-label")
    ax.set_xticks(range(-half, size - half))
    ax.set_yticks(range(-half, size - half))
    ax.set_xlabel(r"$\Delta i\varphi$ (crystals of $2\pi/360$ rad)")
    ax.set_ylabel(r"$\Delta i\eta$ (crystals of 0.0175)")
    return ax


def plot_containment(
    centred: np.ndarray,
    spread: np.ndarray,
    ax: Axes | None = None,
) -> Axes:
    """Mean containment (1 x 1, 3 x 3, 5 x 5 around the seed, :func:`containment`) of photons
    aimed at crystal centres (``centred``) and at random points (``spread``), with the
    standard deviation as error bars, against the ECAL TDR values.

    gids: ``"containment-centred"``, ``"containment-spread"``, ``"containment-tdr"``.
    """
    ax = _new_axes(ax, (5.5, 4.0))
    sizes = np.array(sorted(ECAL_TDR_CONTAINMENT))
    for gun, name, label, dx, colour in (
        (centred, "centred", "photons at crystal centres", -0.12, _C_BARREL),
        (spread, "spread", "photons at random points", 0.12, _C_TRACKER),
    ):
        frac = containment(gun)
        mean = np.array([np.nanmean(frac[s]) for s in sizes])
        std = np.array([np.nanstd(frac[s]) for s in sizes])
        bars = ax.errorbar(sizes + dx, mean, yerr=std, fmt="o", color=colour, capsize=3,
                           label=f"{label} ({len(gun)})")
        bars.lines[0].set_gid(f"containment-{name}")
    ax.plot(sizes, [ECAL_TDR_CONTAINMENT[s] for s in sizes], "k*", ms=11,
            label="ECAL TDR (centred)", gid="containment-tdr")
    ax.set_xticks(sizes, [f"{s}×{s}" for s in sizes])
    ax.set_xlabel("crystals summed around the seed")
    ax.set_ylabel("fraction of the ECAL energy")
    ax.set_ylim(0.3, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8.5, loc="lower right")
    return ax


def plot_resolution(
    energies: ArrayLike,
    measured: ArrayLike,
    errors: ArrayLike,
    ax: Axes | None = None,
    params: DetectorParams = DEFAULT,
    *,
    label: str = "measured: 3×3 sums of gun photons",
) -> Axes:
    """Measured sigma/E (points with error bars) against the resolution formula
    :func:`ecal_resolution` and its three terms, in per cent, log energy axis.

    gids: ``"measured"``, ``"formula"``, ``"term-stochastic"``, ``"term-noise"``,
    ``"term-constant"``.
    """
    ax = _new_axes(ax, (6.5, 4.2))
    e = _check_energy(energies, "energies")
    grid = np.geomspace(e.min() * 0.8, e.max() * 1.25, 200)
    ax.plot(grid, 100 * ecal_resolution(grid, params), color=_C_FORMULA, lw=2, gid="formula",
            label=r"$2.8\%/\sqrt{E} \oplus 0.12/E \oplus 0.3\%$")
    terms = (
        ("stochastic", params.ecal_stochastic / np.sqrt(grid), ":", r"$2.8\%/\sqrt{E}$"),
        ("noise", params.ecal_noise_3x3_gev / grid, "--", r"$0.12\,\mathrm{GeV}/E$"),
        ("constant", np.full_like(grid, params.ecal_constant), "-.", r"$0.3\%$"),
    )
    for name, values, ls, lab in terms:
        ax.plot(grid, 100 * values, ls=ls, lw=1.2, color="#666666", gid=f"term-{name}", label=lab)
    bars = ax.errorbar(e, 100 * np.asarray(measured), yerr=100 * np.asarray(errors), fmt="o",
                       color=_C_TRACKER, ms=6, capsize=3, label=label, zorder=5)
    bars.lines[0].set_gid("measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    y_lo, y_hi = ax.get_ylim()
    ax.set_yticks([t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10) if y_lo <= t <= y_hi])
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(plain)
    ax.set_xlabel("photon energy E (GeV)")
    ax.set_ylabel(r"energy resolution $\sigma_E/E$ (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8.5)
    return ax


def plot_histograms(
    samples: Mapping[str, ArrayLike],
    bins: ArrayLike,
    ax: Axes | None = None,
    *,
    xlabel: str,
    density: bool = True,
    colours: Sequence[str] | None = None,
) -> Axes:
    """One step histogram per entry of ``samples`` (label -> values) with ``mplhep.histplot``,
    normalised to unit area by default. NaN values are dropped; values outside ``bins`` are
    not shown.

    gids: ``"hist-<label>"``.
    """
    ax = _new_axes(ax, (6.0, 4.0))
    bins = np.asarray(bins, dtype=float)
    colours = list(colours) if colours is not None else [_C_BARREL, _C_TRACKER, "#2a9d8f", _C_OUTSIDE]
    for k, (label, values) in enumerate(samples.items()):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        h, _ = np.histogram(v, bins=bins)
        if density and h.sum() > 0:
            h = h / (h.sum() * np.diff(bins))
        art = mplhep.histplot(h, bins, ax=ax, lw=1.8, color=colours[k % len(colours)],
                              label=f"{label} ({v.size})")
        art[0].stairs.set_gid(f"hist-{label}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability density" if density else "events per bin")
    ax.set_xlim(bins[0], bins[-1])
    ax.legend(fontsize=8.5)
    return ax


def plot_energy_sharing(
    shares: Mapping[str, tuple[float, float, float]],
    ax: Axes | None = None,
    *,
    tracked: Mapping[str, float] | None = None,
) -> Axes:
    """Horizontal stacked bars: for each species (label -> (ECAL, HCAL, unseen) fractions of
    its energy, from :func:`energy_sharing`) where its energy goes. ``tracked`` (label ->
    fraction of events with a reconstructed track) is written at the right of each bar.

    gids: ``"bar-<label>-ecal"``, ``"bar-<label>-hcal"``, ``"bar-<label>-unseen"``,
    ``"track-<label>"`` (texts, when ``tracked`` is given).
    """
    ax = _new_axes(ax, (7.5, 0.5 * len(shares) + 1.5))
    parts = (("ecal", "ECAL", _C_BARREL), ("hcal", "HCAL", "#7f7f7f"), ("unseen", "not seen", "#f0d9c0"))
    labels = list(shares)
    for row, label in enumerate(labels):
        left = 0.0
        for k, (key, name, colour) in enumerate(parts):
            width = float(shares[label][k])
            bar = ax.barh(row, width, left=left, color=colour, edgecolor="white",
                          label=name if row == 0 else None)
            bar.patches[0].set_gid(f"bar-{label}-{key}")
            if width > 0.06:
                ax.text(left + width / 2, row, f"{width:.0%}", ha="center", va="center",
                        fontsize=8, color="white" if key != "unseen" else "black")
            left += width
        if tracked is not None:
            ax.text(1.02, row, f"{tracked[label]:.0%}", ha="left", va="center", fontsize=8.5,
                    transform=ax.get_yaxis_transform(), gid=f"track-{label}")
    if tracked is not None:
        ax.text(1.02, -0.75, "with a\ntrack", ha="left", va="bottom", fontsize=8,
                transform=ax.get_yaxis_transform())
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1.0, max(sum(v) for v in shares.values())))
    ax.set_xlabel("mean fraction of the particle's energy")
    ax.legend(ncol=3, fontsize=8.5, loc="lower center", bbox_to_anchor=(0.5, 1.08), frameon=False)
    return ax
