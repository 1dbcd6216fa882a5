"""Event images on the ECAL-barrel grid, photon-centred crops, and the event display of
seminar section 2.4 (Figure 6).

An event image is a float32 array of shape (3, 170, 360): channels [sum of track pT,
ECAL energy, HCAL energy], all in GeV, rows = crystal ieta (increasing eta), columns =
crystal iphi (phi from -pi, see :mod:`e2e_tutorial.coordinates`). This is the input format of
the study the course reproduces (Andrews et al. 2020): the whole barrel, raw GeV values.

HCAL towers cover 5 x 5 crystals. The study *copied* each tower's energy into its 25 crystals
(``hcal="copy"``, the default), so the HCAL channel of an image sums to 25 times the HCAL
energy of the event; ``hcal="share"`` puts energy / 25 into each crystal instead and keeps the
sum equal to the HCAL energy. ECAL crystals read out without zero suppression (see
:mod:`e2e_tutorial.detector`) can hold small negative values (noise).

Public API: :data:`CHANNELS`, :data:`IMAGE_SHAPE`, :func:`event_image`, :func:`downsample_image`,
:func:`crop`, :func:`crop_pair`, :func:`plot_event_image`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from e2e_tutorial.coordinates import (
    ECAL_ETA_EDGES,
    ECAL_N_ETA,
    ECAL_N_PHI,
    ECAL_PHI_EDGES,
    HCAL_N_ETA,
    HCAL_N_PHI,
    HCAL_TOWER_SIZE,
)
from e2e_tutorial.detector import DetectorResponse

__all__ = [
    "CHANNELS",
    "IMAGE_SHAPE",
    "DOWNSAMPLE_FACTORS",
    "event_image",
    "downsample_image",
    "crop",
    "crop_pair",
    "plot_event_image",
]

#: Channel names, in order (all in GeV).
CHANNELS = ("tracks", "ecal", "hcal")
#: Shape of a full event image: (channels, ieta, iphi).
IMAGE_SHAPE = (len(CHANNELS), ECAL_N_ETA, ECAL_N_PHI)
#: Block sizes that divide both 170 and 360.
DOWNSAMPLE_FACTORS = (1, 2, 5, 10)

def _grid(ieta: NDArray, iphi: NDArray, values: NDArray, n_eta: int, n_phi: int) -> NDArray[np.float64]:
    """Sum ``values`` into an (n_eta, n_phi) grid at (ieta, iphi) with bincount."""
    flat = np.asarray(ieta, dtype=np.intp) * n_phi + np.asarray(iphi, dtype=np.intp)
    return np.bincount(flat, weights=values, minlength=n_eta * n_phi).reshape(n_eta, n_phi)


def _fill(out: NDArray[np.float32], ieta: NDArray, iphi: NDArray, values: NDArray) -> None:
    """``out[...] = _grid(ieta, iphi, values, *out.shape)`` cast to ``out``'s dtype, for a
    zero-filled 2-D ``out``, without making the dense float64 grid: only the cells that
    receive values are written, each with the same float64 sum (bincount adds the values of a
    cell in input order, starting from 0.0; so does the sum over a cell's values here)."""
    n_eta, n_phi = out.shape
    flat = np.asarray(ieta, dtype=np.intp) * n_phi + np.asarray(iphi, dtype=np.intp)
    w = np.asarray(values)
    if flat.ndim != 1 or w.shape != flat.shape or w.dtype.kind not in "biuf":
        out[...] = _grid(ieta, iphi, values, n_eta, n_phi)  # raises what _grid raises
        return
    if flat.size == 0:
        return
    if flat.min() < 0 or flat.max() >= n_eta * n_phi:
        out[...] = _grid(ieta, iphi, values, n_eta, n_phi)  # raises what _grid raises
        return
    w = w.astype(np.float64, copy=False)
    if flat.size == 1 or np.all(flat[1:] > flat[:-1]):  # distinct cells (ECAL, HCAL hits)
        out.reshape(-1)[flat] = 0.0 + w  # what bincount gives: 0.0 + the value (-0.0 -> 0.0)
        return
    cells, inverse = np.unique(flat, return_inverse=True)
    out.reshape(-1)[cells] = np.bincount(inverse, weights=w, minlength=cells.size)


def event_image(
    response: DetectorResponse,
    downsample: int = 1,
    *,
    hcal: Literal["copy", "share"] = "copy",
) -> NDArray[np.float32]:
    """The (3, 170, 360) float32 image of a :class:`DetectorResponse` (seminar 2.4, Figure 6).

    Channels: [sum of track pT per crystal, ECAL energy, HCAL energy], GeV. ``hcal="copy"``
    (the study's choice) copies each tower's energy into its 5 x 5 crystals (channel sum =
    25 x HCAL energy); ``hcal="share"`` divides it among them (channel sum = HCAL energy).
    ``downsample`` (1, 2, 5 or 10) sums blocks of that many crystals per side, giving
    (3, 170 / k, 360 / k).
    """
    if hcal not in ("copy", "share"):
        raise ValueError(f"hcal must be 'copy' or 'share'; got {hcal!r}")
    _check_factor(downsample)
    # Written straight into the float32 image: the values are those of the float64 grids
    # (per-crystal sums, tower energies, tower energies / 25) cast to float32, as before, but
    # without three dense float64 images and their stacking and conversion.
    image = np.zeros(IMAGE_SHAPE, dtype=np.float32)
    _fill(image[0], response.track_ieta, response.track_iphi, response.track_pt)
    _fill(image[1], response.ecal_ieta, response.ecal_iphi, response.ecal_energy)
    towers = _grid(response.hcal_ieta, response.hcal_iphi, response.hcal_energy, HCAL_N_ETA, HCAL_N_PHI)
    if hcal == "share":
        towers = towers / HCAL_TOWER_SIZE**2
    k = HCAL_TOWER_SIZE
    image[2].reshape(HCAL_N_ETA, k, HCAL_N_PHI, k)[...] = towers.astype(np.float32)[:, None, :, None]
    return downsample_image(image, downsample) if downsample != 1 else image


def _check_factor(factor: int) -> None:
    is_int = isinstance(factor, (int, np.integer)) and not isinstance(factor, bool)
    if not is_int or factor not in DOWNSAMPLE_FACTORS:
        raise ValueError(
            f"downsampling factor must divide both {ECAL_N_ETA} and {ECAL_N_PHI}, i.e. be one of "
            f"{DOWNSAMPLE_FACTORS}; got {factor!r}"
        )


def _check_image(image: NDArray, name: str = "image") -> NDArray:
    """A (C, 170, 360) array, or ValueError naming the shape found and the one expected."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[1:] != (ECAL_N_ETA, ECAL_N_PHI):
        raise ValueError(
            f"{name} must have shape (channels, {ECAL_N_ETA}, {ECAL_N_PHI}), e.g. {IMAGE_SHAPE}; "
            f"got shape {image.shape}"
        )
    return image


def downsample_image(image: NDArray, factor: int) -> NDArray:
    """Sum blocks of ``factor`` x ``factor`` crystals of a (C, 170, 360) image: (C, 170/k, 360/k).

    The sum of every channel is conserved. ``factor`` must divide 170 and 360 (1, 2, 5, 10).
    """
    image = _check_image(image)
    _check_factor(factor)
    c = image.shape[0]
    k = int(factor)
    return image.reshape(c, ECAL_N_ETA // k, k, ECAL_N_PHI // k, k).sum(axis=(2, 4), dtype=image.dtype)


def _check_centre(ieta: int, iphi: int) -> tuple[int, int]:
    for name, value, n in (("ieta", ieta, ECAL_N_ETA), ("iphi", iphi, ECAL_N_PHI)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n:
            raise ValueError(f"{name} must be an integer crystal index in [0, {n - 1}]; got {value!r}")
    return int(ieta), int(iphi)


def crop(image: NDArray, ieta: int, iphi: int, size: int = 32) -> NDArray:
    """A (C, size, size) window of a (C, 170, 360) image centred on crystal (ieta, iphi).

    The window holds rows ieta - size//2 ... ieta - size//2 + size - 1 (likewise in phi), so
    the centre crystal sits at index size//2. Phi wraps around the seam at +-pi; rows beyond
    the barrel edges (|eta| > 1.4835) are zero. Get (ieta, iphi) of a photon with
    ``coordinates.ecal_index(eta, phi)``, or take the crystal with the most ECAL energy.
    """
    image = _check_image(image)
    ieta, iphi = _check_centre(ieta, iphi)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= ECAL_N_PHI:
        raise ValueError(f"size must be an integer in [1, {ECAL_N_PHI}] crystals; got {size!r}")
    offsets = np.arange(size) - size // 2
    rows = ieta + offsets
    cols = np.mod(iphi + offsets, ECAL_N_PHI)
    inside = (rows >= 0) & (rows < ECAL_N_ETA)
    out = image[:, np.clip(rows, 0, ECAL_N_ETA - 1)][:, :, cols]
    return out * inside[None, :, None].astype(image.dtype)


def crop_pair(
    image: NDArray, centre1: tuple[int, int], centre2: tuple[int, int], size: int = 32
) -> NDArray:
    """Crops around two photon candidates stacked along channels: (2C, size, size).

    ``centre1`` and ``centre2`` are (ieta, iphi) crystals, e.g. the leading and the subleading
    photon; channels 0..C-1 are the first crop, C..2C-1 the second.
    """
    return np.concatenate([crop(image, *centre1, size=size), crop(image, *centre2, size=size)])


def plot_event_image(image: NDArray, ax=None, *, phi_from_zero: bool = False):
    """Draw an event image like seminar Figure 6: tracks (orange) and ECAL (blue) in log colour
    scale, HCAL (grey) in linear scale; phi horizontally, eta vertically, both in radians.

    Accepts full (3, 170, 360) or downsampled (3, 170/k, 360/k) images. ``phi_from_zero``
    shows phi in [0, 2 pi) as the seminar does (rolls the image by half a turn); the default
    is the course's [-pi, pi). Non-positive pixels are left blank. Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.patches import Patch

    image = np.asarray(image)
    shapes = [(3, ECAL_N_ETA // k, ECAL_N_PHI // k) for k in DOWNSAMPLE_FACTORS]
    if image.shape not in shapes:
        raise ValueError(f"image must have one of the shapes {shapes}; got shape {image.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 5))
    phi_lo = 0.0 if phi_from_zero else ECAL_PHI_EDGES[0]
    if phi_from_zero:
        image = np.roll(image, image.shape[2] // 2, axis=2)
    extent = (phi_lo, phi_lo + 2 * np.pi, ECAL_ETA_EDGES[0], ECAL_ETA_EDGES[-1])
    layers = [
        (2, "Greys", False, "HCAL (linear)"),
        (1, "Blues", True, "ECAL (log)"),
        (0, "Oranges", True, "tracks (log)"),
    ]
    handles = []
    for channel, cmap, log, label in layers:
        data = image[channel].astype(np.float64)
        positive = data > 0
        if positive.any():
            hi = float(data[positive].max())
            lo = float(data[positive].min())
            norm = LogNorm(vmin=min(lo, hi / 10.0), vmax=hi) if log else Normalize(0.0, hi)
            ax.imshow(
                np.ma.masked_where(~positive, data), cmap=cmap, norm=norm, origin="lower",
                extent=extent, aspect="auto", interpolation="nearest",
                alpha=0.6 if channel == 2 else 1.0,
            )
        handles.append(Patch(color=plt.get_cmap(cmap)(0.7), label=label))
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(r"$\varphi$ (rad)")
    ax.set_ylabel(r"$\eta$")
    ax.legend(handles=handles, loc="upper right", fontsize="small")
    return ax
