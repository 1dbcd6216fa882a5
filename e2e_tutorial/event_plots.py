"""Figures, tables and the event browser of chapter 2.2 (seminar section 2.4, Figure 6): the
course's datasets seen as events, as images, as photon-centred crops and as distributions.

Everything here reads the course's datasets (:func:`e2e_tutorial.datasets.load_course_dataset`,
an :class:`~e2e_tutorial.datasets.EventDataset` per process) and draws with matplotlib,
``mplhep.histplot`` for histograms and :func:`e2e_tutorial.images.plot_event_image` for event
images. Units: GeV and radians; crops in crystals (one crystal = 0.0174 in eta and in phi).

Numbers
    :func:`production_summary` / :func:`production_table`: how many hard processes Pythia drew,
    how many the pre-filter kept and the selection accepted (from a file's chunk table);
    :func:`pixel_occupancy`, :func:`bytes_per_event`, :func:`size_table`: how sparse the images
    are and what an event costs on disk; :func:`mass_peak` (median and half the 16-84 % interval)
    and :func:`predicted_mass_width` (the width the ECAL resolution alone predicts);
    :func:`mean_crop` and :func:`shower_profile`: the average shower around a photon candidate;
    :func:`markdown_table`.
Figures (each returns the figure and its axes)
    :func:`plot_event` (one event, selected photons marked), :func:`plot_process_events`
    (seminar Figure 6, one event per process), :func:`plot_event_grid` (a few events per
    process: the static partner of the browser), :func:`plot_mass`, :func:`plot_features`,
    :func:`plot_shower_shapes`, :func:`plot_crop_comparison`, :func:`plot_mean_crops`,
    :func:`plot_shower_profiles`.
Widget
    :class:`EventBrowser`: a process drop-down and an event slider over a few events per
    process, redrawing :func:`plot_event`.

Public API: the names in ``__all__``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from e2e_tutorial import datasets, detector, images, plots, reconstruction

__all__ = [
    "PROCESS_ORDER",
    "PROCESS_COLORS",
    "STUDY_LABELS",
    "FEATURE_LABELS",
    "DENSE_IMAGE_BYTES",
    "markdown_table",
    "production_summary",
    "production_table",
    "pixel_occupancy",
    "bytes_per_event",
    "size_table",
    "mass_peak",
    "predicted_mass_width",
    "mean_crop",
    "shower_profile",
    "typical_event",
    "plot_event",
    "plot_process_events",
    "plot_event_grid",
    "EventBrowser",
    "plot_mass",
    "plot_features",
    "plot_shower_shapes",
    "plot_crop_comparison",
    "plot_mean_crops",
    "plot_shower_profiles",
]

#: The processes in the course's order: signal first (label 0), then gamma gamma, gamma + jet.
PROCESS_ORDER = ("h", "gg", "gj")
#: One colour per process: the course's (:data:`e2e_tutorial.plots.PROCESS_COLORS`).
PROCESS_COLORS = plots.PROCESS_COLORS
#: The labels of the study's files (study.md section 2): gamma gamma 0, H 1, gamma + jet 2.
STUDY_LABELS = {"gg": 0, "h": 1, "gj": 2}
#: Axis labels (with units) of the five kinematic features, keyed by reconstruction.FEATURE_NAMES.
FEATURE_LABELS = {
    "pt1_over_m": r"$p_{T,1}/m_{\gamma\gamma}$ (leading photon)",
    "eta1": r"$\eta_1$ (leading photon)",
    "pt2_over_m": r"$p_{T,2}/m_{\gamma\gamma}$ (subleading photon)",
    "eta2": r"$\eta_2$ (subleading photon)",
    "cos_dphi": r"$\cos\Delta\varphi_{12}$",
}
#: Bytes of one dense float32 event image (3 x 170 x 360 x 4).
DENSE_IMAGE_BYTES = int(np.prod(images.IMAGE_SHAPE)) * 4

_CHANNEL_TITLES = ("tracks: $\\Sigma p_T$ (GeV)", "ECAL energy (GeV)", "HCAL energy (GeV)")
_PHOTON_NAMES = ("leading", "subleading")


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _check_datasets(dsets: Mapping[str, Any]) -> list[str]:
    """The processes of ``dsets`` in :data:`PROCESS_ORDER`; ValueError if empty or unknown."""
    if not isinstance(dsets, Mapping) or not dsets:
        raise ValueError(f"expected a non-empty mapping process -> EventDataset; got {dsets!r}")
    unknown = [p for p in dsets if p not in PROCESS_ORDER]
    if unknown:
        raise ValueError(f"unknown process(es) {unknown}; expected some of {PROCESS_ORDER}")
    return [p for p in PROCESS_ORDER if p in dsets]


def _check_photon(photon: int) -> int:
    if isinstance(photon, bool) or photon not in (0, 1):
        raise ValueError(f"photon must be 0 (leading) or 1 (subleading); got {photon!r}")
    return int(photon)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (for ``IPython.display.Markdown``); every row as long as the header."""
    bad = [r for r in rows if len(r) != len(header)]
    if bad:
        raise ValueError(f"every row needs {len(header)} cells (the header's); got {bad[0]!r}")
    lines = ["| " + " | ".join(str(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# How the data were made: counts from the chunk table
# ---------------------------------------------------------------------------------------------


def production_summary(ds) -> dict[str, Any]:
    """Counts and efficiencies of one dataset, from its chunk table (``chunks/*``).

    Keys: ``n_tried`` (hard processes Pythia drew), ``n_accepted`` (complete events: passed
    the pre-filter's stage 1, the hard-process cut), ``n_simulated`` (passed stage 2 too and went
    through detector and reconstruction), ``n_selected`` (passed the diphoton selection);
    fractions ``stage1`` = accepted/tried, ``stage2`` = simulated/accepted, ``prefilter`` =
    simulated/tried, ``selection`` = selected/simulated, ``overall`` = selected/tried;
    ``tried_per_selected``; ``sigma_gen_pb`` (Pythia's cross section of the accepted events,
    averaged over chunks weighted by their accepted events) and ``sigma_selected_pb`` (times
    selected/accepted); ``cpu_s_per_selected`` (the generation CPU time recorded in the file's
    manifest, per selected event, on the machine that made it; None without a manifest).
    """
    path = ds.path
    with h5py.File(path, "r") as f:
        table = {k: f["chunks"][k][()] for k in ("n_tried", "n_accepted", "n_simulated",
                                                  "n_selected", "sigma_gen_mb")}
    n = {k: int(table[k].sum()) for k in ("n_tried", "n_accepted", "n_simulated", "n_selected")}
    if n["n_selected"] != int(ds.attrs["n_events"]):
        raise ValueError(f"{path}: the chunk table counts {n['n_selected']} selected events, the "
                         f"file holds {ds.attrs['n_events']}")
    sigma_gen_pb = float((table["sigma_gen_mb"] * table["n_accepted"]).sum() / n["n_accepted"]) * 1e9
    manifest = datasets.default_manifest_path(path)
    cpu = None
    if manifest.exists():
        seconds = json.loads(manifest.read_text()).get("generation_cpu_seconds")
        cpu = None if seconds is None else float(seconds) / n["n_selected"]
    return {
        "process": ds.attrs["process"],
        **n,
        "stage1": n["n_accepted"] / n["n_tried"],
        "stage2": n["n_simulated"] / n["n_accepted"],
        "prefilter": n["n_simulated"] / n["n_tried"],
        "selection": n["n_selected"] / n["n_simulated"],
        "overall": n["n_selected"] / n["n_tried"],
        "tried_per_selected": n["n_tried"] / n["n_selected"],
        "sigma_gen_pb": sigma_gen_pb,
        "sigma_selected_pb": sigma_gen_pb * n["n_selected"] / n["n_accepted"],
        "cpu_s_per_selected": cpu,
    }


def production_table(dsets: Mapping[str, Any]) -> str:
    """Markdown table of :func:`production_summary` for each process (rows in course order)."""
    rows = []
    for p in _check_datasets(dsets):
        s = production_summary(dsets[p])
        cpu = "n/a" if s["cpu_s_per_selected"] is None else f"{1e3 * s['cpu_s_per_selected']:.0f}"
        rows.append([
            plots.class_label(p), f"{s['n_tried']:,}", f"{s['stage1']:.1%}", f"{s['stage2']:.1%}",
            f"{s['n_simulated']:,}", f"{s['selection']:.1%}", f"{s['n_selected']:,}",
            f"{s['overall']:.2%}", f"{s['tried_per_selected']:.1f}", cpu,
        ])
    header = ["process", "hard processes drawn", "stage 1 keeps", "stage 2 keeps",
              "simulated", "selection keeps", "selected", "selected / drawn",
              "drawn per selected", "CPU ms per selected"]
    return markdown_table(header, rows)


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------


def pixel_occupancy(ds) -> NDArray[np.int64]:
    """Non-zero pixels per event and channel, shape (len(ds), 3) for [tracks, ECAL, HCAL].

    Counted on the sparse image stored in the dataset's file (``image/offsets`` and
    ``image/indices``: a pixel is stored if and only if it is non-zero). An HCAL tower copied
    into its 5 x 5 crystals counts 25 pixels.
    """
    n = len(ds)
    with h5py.File(ds.path, "r") as f:
        offsets = f["image/offsets"][: n + 1]
        indices = f["image/indices"][: offsets[-1]]
    event = np.repeat(np.arange(n), np.diff(offsets))
    channel = indices.astype(np.int64) // (images.IMAGE_SHAPE[1] * images.IMAGE_SHAPE[2])
    counts = np.bincount(event * 3 + channel, minlength=3 * n)
    return counts.reshape(n, 3).astype(np.int64)


def bytes_per_event(ds) -> float:
    """Size of the dataset's file on disk divided by the events it holds, bytes (all stored
    arrays and metadata included; the images are gzip-compressed sparse arrays)."""
    return ds.path.stat().st_size / int(ds.attrs["n_events"])


def size_table(dsets: Mapping[str, Any]) -> str:
    """Markdown table per process: mean non-zero pixels per event in each channel (and the
    fraction of the 61 200 pixels of a channel), and bytes per event on disk against a dense
    float32 image."""
    n_pix = images.IMAGE_SHAPE[1] * images.IMAGE_SHAPE[2]
    rows = []
    for p in _check_datasets(dsets):
        occ = pixel_occupancy(dsets[p]).mean(axis=0)
        b = bytes_per_event(dsets[p])
        rows.append([plots.class_label(p)]
                    + [f"{o:.1f} ({o / n_pix:.2%})" for o in occ]
                    + [f"{b / 1e3:.2f} kB", f"{DENSE_IMAGE_BYTES / b:.0f}"])
    header = ["process", "track pixels", "ECAL pixels", "HCAL pixels (25 per tower)",
              "file size per event", "dense image / file size"]
    return markdown_table(header, rows)


# ---------------------------------------------------------------------------------------------
# The diphoton mass
# ---------------------------------------------------------------------------------------------


def mass_peak(mass: NDArray) -> tuple[float, float]:
    """(median, robust width) of a mass peak, GeV. The width is half the distance between the
    16th and 84th percentiles: the standard deviation for a Gaussian, but insensitive to tails."""
    m = np.asarray(mass, dtype=np.float64)
    if m.ndim != 1 or m.size < 2 or not np.all(np.isfinite(m)):
        raise ValueError(f"mass must be a 1-D array of at least 2 finite values (GeV); got shape "
                         f"{m.shape}")
    q16, q50, q84 = np.percentile(m, [16, 50, 84])
    return float(q50), float(0.5 * (q84 - q16))


def predicted_mass_width(photons: NDArray, mass: NDArray,
                         params: detector.DetectorParams = detector.DEFAULT) -> NDArray[np.float64]:
    """Per-event width of m_gammagamma (GeV) that the ECAL energy resolution alone predicts.

    m^2 = 2 E1 E2 (1 - cos alpha), so with perfectly measured angles
    sigma_m / m = 1/2 sqrt((sigma_1/E_1)^2 + (sigma_2/E_2)^2), where each photon's
    sigma/E = a/sqrt(E) (+) n/E (+) c: the detector model's stochastic term a, the noise of the
    5 x 5 sum the reconstruction uses (n = 5 x the crystal noise) and the constant term c.
    ``photons``: (n, 2) array with an ``energy`` field (GeV), e.g. ``EventDataset.photons``.
    """
    e = np.asarray(photons["energy"], dtype=np.float64)
    m = np.asarray(mass, dtype=np.float64)
    if e.ndim != 2 or e.shape[1] != 2 or m.shape != (e.shape[0],):
        raise ValueError(f"photons must be (n, 2) and mass (n,); got {e.shape} and {m.shape}")
    if np.any(e <= 0):
        raise ValueError("photon energies must be > 0 GeV")
    noise_5x5 = 5.0 * params.ecal_noise_gev
    rel = np.sqrt((params.ecal_stochastic / np.sqrt(e)) ** 2 + (noise_5x5 / e) ** 2
                  + params.ecal_constant**2)
    return 0.5 * np.sqrt((rel**2).sum(axis=1)) * m


# ---------------------------------------------------------------------------------------------
# Crops
# ---------------------------------------------------------------------------------------------


def mean_crop(ds, photon: int, channel: int = 1, n_events: int | None = None) -> NDArray[np.float64]:
    """Mean crop (crop_size x crop_size) around photon ``photon`` (0 leading, 1 subleading) of
    the first ``n_events`` events (default all), channel ``channel`` (0 tracks, 1 ECAL, 2 HCAL),
    each crop divided by the photon's 5 x 5 ECAL energy ``e5x5``: the central 5 x 5 of the mean
    ECAL crop sums to 1, and what lies outside it is energy around the photon in units of its
    own. The crop size is the dataset's (``load_dataset(..., crop_size=...)``).
    """
    photon = _check_photon(photon)
    if isinstance(channel, bool) or channel not in (0, 1, 2):
        raise ValueError(f"channel must be 0 (tracks), 1 (ECAL) or 2 (HCAL); got {channel!r}")
    n = len(ds) if n_events is None else int(n_events)
    if not 1 <= n <= len(ds):
        raise ValueError(f"n_events must be in [1, {len(ds)}]; got {n_events!r}")
    total = np.zeros((ds.crop_size, ds.crop_size))
    for i in range(n):
        total += ds.crops(i)[3 * photon + channel] / ds.photons[i, photon]["e5x5"]
    return total / n


def shower_profile(crop: NDArray) -> NDArray[np.float64]:
    """Profile of a (s, s) crop along eta: the sum over each row (all phi columns), in the
    crop's units; index s//2 is the seed's row."""
    crop = np.asarray(crop, dtype=np.float64)
    if crop.ndim != 2 or crop.shape[0] != crop.shape[1]:
        raise ValueError(f"crop must be a square 2-D array; got shape {crop.shape}")
    return crop.sum(axis=1)


def typical_event(ds, photon: int, field: str = "sigma_ieta_ieta") -> int:
    """Index of the event whose photon ``photon`` has the value of ``field`` closest to the
    median over the dataset: a representative event to show, chosen without looking."""
    photon = _check_photon(photon)
    names = ds.photons.dtype.names
    if field not in names:
        raise ValueError(f"unknown photon field {field!r}; the fields are {names}")
    x = ds.photons[:, photon][field]
    return int(np.argmin(np.abs(x - np.median(x))))


# ---------------------------------------------------------------------------------------------
# Event displays
# ---------------------------------------------------------------------------------------------


def _event_title(ds, index: int) -> str:
    return (f"{plots.class_label(ds.process)}, event {index}: "
            f"$m_{{\\gamma\\gamma}}$ = {ds.mass[index]:.1f} GeV")


def plot_event(ds, index: int, ax=None, *, mark_photons: bool = True, legend: bool = True,
               title: bool = True):
    """Event ``index`` of ``ds`` drawn with :func:`images.plot_event_image` (tracks and ECAL in
    log colour scale, HCAL linear), the two selected photons circled and labelled (gamma_1 the
    leading), and a title with the process and m_gammagamma. Returns the axes."""
    image = ds.image(index)
    ax = images.plot_event_image(image, ax=ax)
    if not legend:
        ax.get_legend().remove()
    if mark_photons:
        p = ds.photons[index]
        for j in range(2):
            ax.plot(p[j]["phi"], p[j]["eta"], ls="none", marker="o", ms=16, mfc="none",
                    mec="crimson", mew=1.3, gid=f"photon-{j + 1}")
            right = p[j]["phi"] < 2.2  # label to the right of the circle unless near the edge
            ax.annotate(f"$\\gamma_{j + 1}$", (p[j]["phi"], p[j]["eta"]),
                        xytext=(9 if right else -9, 7), ha="left" if right else "right",
                        textcoords="offset points", color="crimson", fontsize=11)
    if title:
        ax.set_title(_event_title(ds, index), fontsize=11)
    return ax


def plot_process_events(dsets: Mapping[str, Any], index: int = 0, *, figsize=(9.0, 10.0)):
    """Seminar Figure 6 for each process: event ``index`` of each dataset as a three-channel
    image, one panel per process, stacked. Returns (figure, axes)."""
    import matplotlib.pyplot as plt

    procs = _check_datasets(dsets)
    fig, axes = plt.subplots(len(procs), 1, figsize=figsize, sharex=True, squeeze=False,
                             layout="constrained")
    axes = axes[:, 0]
    for ax, p in zip(axes, procs):
        plot_event(dsets[p], index, ax)
    _figure_legend(fig, axes.ravel())
    for ax in axes[:-1]:
        ax.set_xlabel("")
    return fig, axes


def _figure_legend(fig, axes) -> None:
    """Replace the per-panel legends of plot_event_image by one legend below the figure."""
    handles = None
    for ax in axes:
        leg = ax.get_legend()
        if leg is not None:
            handles = handles or list(leg.legend_handles)
            leg.remove()
    if handles:
        fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center",
                   ncol=len(handles), fontsize="small")


def plot_event_grid(dsets: Mapping[str, Any], indices: Sequence[int], *, figsize=None):
    """A grid of event images: one row per process, one column per event index, photons
    circled, one legend for the figure. The static partner of :class:`EventBrowser`.
    Returns (figure, 2-D array of axes)."""
    import matplotlib.pyplot as plt

    procs = _check_datasets(dsets)
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("indices must name at least one event")
    ncol = len(indices)
    figsize = figsize or (3.6 * ncol + 0.6, 2.3 * len(procs) + 0.8)
    fig, axes = plt.subplots(len(procs), ncol, figsize=figsize, sharex=True, sharey=True,
                             squeeze=False, layout="constrained")
    for r, p in enumerate(procs):
        for c, i in enumerate(indices):
            ax = axes[r, c]
            plot_event(dsets[p], i, ax, title=False)
            ax.set_title(f"{plots.class_label(p)}, event {i}: {dsets[p].mass[i]:.0f} GeV", fontsize=9)
            if r != len(procs) - 1:
                ax.set_xlabel("")
            if c != 0:
                ax.set_ylabel("")
    _figure_legend(fig, axes.ravel())
    return fig, axes


class EventBrowser:
    """An ipywidgets event browser: a process drop-down and an event slider (events 0 ..
    ``n_events`` - 1 of each dataset), redrawing :func:`plot_event` into one matplotlib
    figure shown in an ``Output`` widget. Display it with ``display(browser)`` or by leaving it
    as the last expression of a cell.

    Attributes: ``process`` (Dropdown), ``event`` (IntSlider), ``output`` (Output),
    ``widget`` (the VBox shown), ``figure`` (the matplotlib Figure), ``shown`` ((process,
    event) drawn last). The static book shows only the first drawing: pair it with
    :func:`plot_event_grid`.
    """

    def __init__(self, dsets: Mapping[str, Any], n_events: int, *, figsize=(9.0, 4.4), dpi: int = 80):
        import ipywidgets as widgets
        from matplotlib.figure import Figure

        procs = _check_datasets(dsets)
        if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 1:
            raise ValueError(f"n_events must be a positive integer; got {n_events!r}")
        n_max = min(int(n_events), *(len(dsets[p]) for p in procs))
        self.datasets = {p: dsets[p] for p in procs}
        self.process = widgets.Dropdown(
            options=[(_plain_label(p), p) for p in procs],
            value=procs[0], description="process")
        self.event = widgets.IntSlider(value=0, min=0, max=n_max - 1, step=1, description="event",
                                       continuous_update=False)
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox([self.process, self.event]), self.output])
        # A figure outside pyplot: nothing is shown unless the browser displays it.
        self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        self.shown: tuple[str, int] | None = None
        self.process.observe(self._changed, names="value")
        self.event.observe(self._changed, names="value")
        self.draw()

    def _changed(self, change) -> None:
        self.draw()

    def draw(self) -> None:
        """Draw the event the widgets select, and show it in the output widget."""
        from IPython.display import clear_output, display

        process, index = self.process.value, int(self.event.value)
        self.figure.clear()
        ax = self.figure.add_subplot()
        plot_event(self.datasets[process], index, ax)
        self.shown = (process, index)
        with self.output:
            clear_output(wait=True)
            display(self.figure)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _plain_label(process: str) -> str:
    """A process label without TeX, for widgets."""
    return {"h": "H -> γγ", "gg": "γγ", "gj": "γ + jet"}[process]


# ---------------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------------


def _class_hist(ax, dsets: Mapping[str, Any], procs: Sequence[str], values, bins: NDArray, *,
                xlabel: str, clip: bool = True, logy: bool = False, legend: bool = True):
    """One histogram per process with the course's :func:`e2e_tutorial.plots.class_histograms`
    (mplhep; each process normalised to its number of events, signal filled). ``values(ds)``
    gives the numbers of one dataset. ``clip``: values outside the bins are counted in the edge
    bins; otherwise they are left out (each process's bins then add up to its fraction inside)."""
    parts = [np.asarray(values(dsets[p]), dtype=np.float64) for p in procs]
    v = np.concatenate(parts)
    if clip:
        v = np.clip(v, bins[0], bins[-1])
    labels = np.concatenate([np.full(len(x), c) for c, x in enumerate(parts)])
    plots.class_histograms(v, labels, list(procs), bins=bins, range=(bins[0], bins[-1]), ax=ax,
                           xlabel=xlabel, logy=logy, legend=legend)


_MASS_LABEL = r"$m_{\gamma\gamma}$ (GeV)"


def plot_mass(dsets: Mapping[str, Any], *, figsize=(10.0, 4.0)):
    """Two panels: (left) the H -> gamma gamma peak, 115-135 GeV in 0.25 GeV bins (events
    outside left out), with its median and robust width (:func:`mass_peak`, of all events)
    marked; (right) m_gammagamma of every process, 90-250 GeV in 4 GeV bins, each normalised to
    its events, log scale (values above 250 GeV in the last bin). Needs "h" in ``dsets``.
    Histogram gids ``"hist-<c>"`` (:func:`e2e_tutorial.plots.class_histograms`). Returns
    (figure, axes)."""
    import matplotlib.pyplot as plt

    procs = _check_datasets(dsets)
    if "h" not in procs:
        raise ValueError("plot_mass needs the H -> gamma gamma dataset ('h')")
    fig, axes = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    med, width = mass_peak(dsets["h"].mass)
    ax = axes[0]
    _class_hist(ax, dsets, ["h"], lambda ds: ds.mass, np.linspace(115.0, 135.0, 81),
                xlabel=_MASS_LABEL, clip=False, legend=False)
    ax.axvline(med, color="k", lw=1, ls="--", label=f"median {med:.2f} GeV")
    ax.axvspan(med - width, med + width, color="0.6", alpha=0.3,
               label=f"16–84 %: half-width {width:.2f} GeV")
    ax.set_title(r"$H\to\gamma\gamma$ peak", fontsize=11)
    ax.set_ylim(0.0, 1.4 * ax.get_ylim()[1])  # room for the legend above the peak
    ax.legend(fontsize="small", loc="upper left")
    _class_hist(axes[1], dsets, procs, lambda ds: ds.mass, np.linspace(90.0, 250.0, 41),
                xlabel=_MASS_LABEL, logy=True)
    axes[1].set_title("all processes, after selection", fontsize=11)
    return fig, axes


_FEATURE_BINS = {
    "pt1_over_m": np.linspace(1 / 3, 1.2, 27),
    "eta1": np.linspace(-1.44, 1.44, 25),
    "pt2_over_m": np.linspace(0.25, 0.8, 23),
    "eta2": np.linspace(-1.44, 1.44, 25),
    "cos_dphi": np.linspace(-1.0, 1.0, 41),
}


def plot_features(dsets: Mapping[str, Any], *, figsize=(10.5, 6.0)):
    """The five kinematic features (``EventDataset.features``) of each process, overlaid and
    each normalised to its events, one panel per feature (the sixth panel holds the legend);
    cos(Delta phi) on a log scale. Values beyond a panel's range are counted in its edge bins.
    Returns (figure, the five feature axes)."""
    import matplotlib.pyplot as plt

    procs = _check_datasets(dsets)
    names = list(reconstruction.FEATURE_NAMES)
    fig, grid = plt.subplots(2, 3, figsize=figsize, layout="constrained")
    axes = grid.ravel()[: len(names)]
    for ax, name in zip(axes, names):
        _class_hist(ax, dsets, procs, lambda ds, n=name: ds.features[:, ds.feature_names.index(n)],
                    _FEATURE_BINS[name], xlabel=FEATURE_LABELS[name],
                    logy=name == "cos_dphi", legend=False)  # back-to-back pairs pile up at -1
    legend_ax = grid.ravel()[-1]
    legend_ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center", fontsize="medium", title="after selection")
    return fig, axes


def plot_shower_shapes(dsets: Mapping[str, Any], *, figsize=(10.0, 6.5)):
    """Shower shapes of the selected photons: R9 (top) and sigma_ieta_ieta (bottom) for the
    leading (left) and subleading (right) photon of each process, each normalised to its
    events, log scale; values beyond a panel's range are counted in its edge bins. Returns
    (figure, 2 x 2 axes)."""
    import matplotlib.pyplot as plt

    procs = _check_datasets(dsets)
    fig, axes = plt.subplots(2, 2, figsize=figsize, layout="constrained")
    specs = [("r9", np.linspace(0.5, 1.0, 51), r"$R_9 = E_{3\times3}/E_{5\times5}$"),
             ("sigma_ieta_ieta", np.linspace(0.006, 0.03, 49),
              r"$\sigma_{i\eta i\eta}$ (units of $\eta$; 1 crystal = 0.0174)")]
    for r, (field, bins, xlabel) in enumerate(specs):
        for c in range(2):
            ax = axes[r, c]
            _class_hist(ax, dsets, procs, lambda ds, f=field, j=c: ds.photons[:, j][f], bins,
                        xlabel=xlabel, logy=True)
            ax.set_title(f"{_PHOTON_NAMES[c]} photon", fontsize=11)
    return fig, axes


def _crop_extent(size: int) -> tuple[float, float, float, float]:
    lo = -(size // 2) - 0.5
    return (lo, lo + size, lo, lo + size)


def plot_crop_comparison(crops: Sequence[NDArray], titles: Sequence[str], *, figsize=None):
    """Photon-centred crops side by side: one row per crop (each (3, s, s): tracks, ECAL, HCAL
    in GeV; ``titles`` label the rows), one column per channel. Tracks and ECAL in log colour scale, HCAL linear; every
    channel shares one colour scale across rows, so the rows can be compared pixel by pixel.
    Empty pixels are white. Returns (figure, axes of shape (rows, 3))."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import NullFormatter

    crops = [np.asarray(c, dtype=np.float64) for c in crops]
    if not crops or any(c.ndim != 3 or c.shape[0] != 3 or c.shape[1] != c.shape[2] for c in crops):
        raise ValueError("crops must be a non-empty list of (3, s, s) arrays")
    if len(titles) != len(crops):
        raise ValueError(f"need one title per crop; got {len(titles)} titles for {len(crops)} crops")
    size = crops[0].shape[1]
    figsize = figsize or (9.5, 2.9 * len(crops) + 1.3)
    fig, axes = plt.subplots(len(crops), 3, figsize=figsize, squeeze=False, layout="constrained")
    cmaps = ("Oranges", "Blues", "Greys")
    for ch in range(3):
        positive = np.concatenate([c[ch][c[ch] > 0] for c in crops])
        hi = float(positive.max()) if positive.size else 1.0
        if ch < 2:
            lo = float(positive.min()) if positive.size else hi / 10
            norm = LogNorm(vmin=max(min(lo, hi / 10), hi * 1e-4), vmax=hi)
        else:
            norm = Normalize(0.0, hi)
        for r, c in enumerate(crops):
            ax = axes[r, ch]
            im = ax.imshow(np.ma.masked_where(c[ch] <= 0, c[ch]), cmap=cmaps[ch], norm=norm,
                           origin="lower", extent=_crop_extent(size), interpolation="nearest")
            ax.set_xlabel(r"$\Delta i\varphi$ (crystals)" if r == len(crops) - 1 else "")
            ax.set_ylabel(f"{titles[r]}\n" + r"$\Delta i\eta$ (crystals)" if ch == 0 else "")
            if r == 0:
                ax.set_title(_CHANNEL_TITLES[ch], fontsize=10)
        cbar = fig.colorbar(im, ax=axes[:, ch], location="bottom", shrink=0.9, aspect=25,
                            label=_CHANNEL_TITLES[ch])
        cbar.ax.xaxis.set_minor_formatter(NullFormatter())  # no crowded labels on log scales
    return fig, axes


def plot_mean_crops(means: Mapping[tuple[str, int], NDArray], *, vmin: float = 1e-4, figsize=None):
    """Mean ECAL crops (:func:`mean_crop`) keyed by (process, photon): one column per process,
    one row per photon (leading, subleading), one logarithmic colour scale (fraction of the
    photon's 5 x 5 energy per crystal; white below ``vmin``). Returns (figure, axes of shape (rows, columns))."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if not means:
        raise ValueError("means must hold at least one (process, photon) -> crop")
    procs = [p for p in PROCESS_ORDER if any(k[0] == p for k in means)]
    photons = sorted({k[1] for k in means})
    size = next(iter(means.values())).shape[0]
    figsize = figsize or (3.2 * len(procs) + 1.2, 3.0 * len(photons) + 0.3)
    fig, axes = plt.subplots(len(photons), len(procs), figsize=figsize, squeeze=False,
                             layout="constrained")
    norm = LogNorm(vmin=vmin, vmax=1.0)
    cmap = plt.get_cmap("viridis").with_extremes(under="white")
    for r, ph in enumerate(photons):
        for c, p in enumerate(procs):
            ax = axes[r, c]
            crop = np.asarray(means.get((p, ph), np.zeros((size, size))), dtype=np.float64)
            im = ax.imshow(np.ma.masked_where(crop <= 0, crop), cmap=cmap, norm=norm,
                           origin="lower", extent=_crop_extent(size), interpolation="nearest")
            ax.set_title(f"{plots.class_label(p)}: {_PHOTON_NAMES[ph]} photon", fontsize=10)
            ax.set_xlabel(r"$\Delta i\varphi$ (crystals)")
            ax.set_ylabel(r"$\Delta i\eta$ (crystals)")
    fig.colorbar(im, ax=axes, shrink=0.85,
                 label=r"mean ECAL energy per crystal / photon's $E_{5\times5}$")
    return fig, axes


def plot_shower_profiles(means: Mapping[tuple[str, int], NDArray], *, figsize=(8.0, 4.2)):
    """Eta profiles (:func:`shower_profile`) of mean ECAL crops keyed by (process, photon):
    solid lines for leading, dashed for subleading photons, log scale. Returns (figure, axes)."""
    import matplotlib.pyplot as plt

    if not means:
        raise ValueError("means must hold at least one (process, photon) -> crop")
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for (p, ph), crop in sorted(means.items(), key=lambda kv: (PROCESS_ORDER.index(kv[0][0]), kv[0][1])):
        prof = shower_profile(crop)
        d = np.arange(prof.size) - prof.size // 2
        ax.plot(d, np.where(prof > 0, prof, np.nan), drawstyle="steps-mid", color=PROCESS_COLORS[p],
                ls="-" if ph == 0 else "--", lw=1.6,
                label=f"{plots.class_label(p)}, {_PHOTON_NAMES[ph]}")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\Delta i\eta$ from the seed crystal (crystals)")
    ax.set_ylabel(r"ECAL energy per row / $E_{5\times5}$")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig, ax
