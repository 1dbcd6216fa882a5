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
:func:`crop`, :func:`crop_pair`, :func:`plot_event_image`; for many events at once and for
storage, the sparse form: :data:`IMAGE_SIZE`, :class:`SparseImages`, :func:`sparse_images`
(straight from detector responses, no dense images), :func:`sparse_image`,
:func:`dense_image`, :func:`dense_image_downsampled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from e2e_tutorial.coordinates import (
    ECAL_ETA_EDGES,
    ECAL_N_ETA,
    ECAL_N_PHI,
    ECAL_PHI_EDGES,
    HCAL_N_ETA,
    HCAL_TOWER_SIZE,
)
from e2e_tutorial.detector import DetectorResponse

__all__ = [
    "CHANNELS",
    "IMAGE_SHAPE",
    "DOWNSAMPLE_FACTORS",
    "IMAGE_SIZE",
    "SparseImages",
    "sparse_image",
    "dense_image",
    "dense_image_downsampled",
    "sparse_images",
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

#: Pixels in one full image (3 x 170 x 360); flat pixel index = channel x 61200 + ieta x 360 + iphi.
IMAGE_SIZE = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
_CHANNEL_SIZE = ECAL_N_ETA * ECAL_N_PHI


@dataclass(frozen=True)
class SparseImages:
    """The non-zero pixels of a batch of (3, 170, 360) event images, as datasets store them.

    Event ``k`` owns ``indices[offsets[k]:offsets[k + 1]]`` (flat pixel indices channel x 61200
    + ieta x 360 + iphi, increasing) and the matching float32 ``values`` (GeV).
    """

    indices: NDArray[np.int32]
    values: NDArray[np.float32]
    offsets: NDArray[np.int64]

    def __post_init__(self) -> None:
        idx, val, off = self.indices, self.values, self.offsets
        if idx.ndim != 1 or val.shape != idx.shape or off.ndim != 1 or off.size < 1:
            raise ValueError(
                "SparseImages needs 1-D indices and values of equal length and 1-D offsets of "
                f"length n_events + 1; got shapes {idx.shape}, {val.shape}, {off.shape}"
            )
        if off[0] != 0 or off[-1] != idx.size or np.any(np.diff(off) < 0):
            raise ValueError(
                f"SparseImages offsets must rise from 0 to len(indices) = {idx.size}; "
                f"got {off[0]} ... {off[-1]}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= IMAGE_SIZE):
            raise ValueError(f"SparseImages indices must lie in [0, {IMAGE_SIZE}); "
                             f"got {idx.min()} ... {idx.max()}")

    def __len__(self) -> int:
        return self.offsets.size - 1

    def event(self, k: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """(indices, values) of event ``k``."""
        a, b = self.offsets[k], self.offsets[k + 1]
        return self.indices[a:b], self.values[a:b]

    def dense(self, k: int) -> NDArray[np.float32]:
        """The dense (3, 170, 360) float32 image of event ``k``."""
        return dense_image(*self.event(k))


def sparse_image(image: NDArray) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """(flat indices int32, values float32) of the non-zero pixels of a (3, 170, 360) image.

    Index = channel x 61200 + ieta x 360 + iphi, increasing. :func:`dense_image` inverts it
    exactly (a pixel of -0.0 comes back as 0.0).
    """
    image = np.asarray(image)
    if image.shape != IMAGE_SHAPE:
        raise ValueError(f"image must have shape {IMAGE_SHAPE}; got {image.shape}")
    flat = image.astype(np.float32, copy=False).reshape(-1)
    idx = np.flatnonzero(flat != 0)  # the same indices as flatnonzero(flat), several times faster for floats
    return idx.astype(np.int32), flat[idx]


def dense_image(indices: NDArray, values: NDArray) -> NDArray[np.float32]:
    """The dense (3, 170, 360) float32 image (GeV) of sparse pixels from :func:`sparse_image`."""
    out = np.zeros(IMAGE_SIZE, dtype=np.float32)
    out[indices] = values
    return out.reshape(IMAGE_SHAPE)


def dense_image_downsampled(indices: NDArray, values: NDArray, factor: int) -> NDArray[np.float32]:
    """:func:`dense_image` summed over ``factor`` x ``factor`` blocks, straight from the sparse
    pixels: (3, 170/k, 360/k) float32 GeV, as ``downsample_image(dense_image(...))`` but
    without the full-size image (summed in float64, then rounded once)."""
    _check_factor(factor)
    channels, n_eta, n_phi = IMAGE_SHAPE
    k = int(factor)
    channel, rest = np.divmod(np.asarray(indices).astype(np.int64), n_eta * n_phi)
    ieta, iphi = np.divmod(rest, n_phi)
    shape = (channels, n_eta // k, n_phi // k)
    block = (channel * shape[1] + ieta // k) * shape[2] + iphi // k
    summed = np.bincount(block, weights=values, minlength=shape[0] * shape[1] * shape[2])
    return summed.astype(np.float32).reshape(shape)


def _cat(responses: Sequence[DetectorResponse], prefix: str) -> tuple[NDArray, ...]:
    """Event number, ieta, iphi and energy/pT (GeV) of one kind of hit ("track", "ecal" or
    "hcal") over all responses, concatenated."""
    names = ("ieta", "iphi", "energy" if prefix != "track" else "pt")
    parts = [[getattr(r, f"{prefix}_{n}") for r in responses] for n in names]
    counts = np.fromiter((len(p) for p in parts[0]), dtype=np.intp, count=len(responses))
    event = np.repeat(np.arange(len(responses)), counts)
    return (event,) + tuple(np.concatenate(p) for p in parts)


def sparse_images(
    responses: Sequence[DetectorResponse], *, hcal: Literal["copy", "share"] = "copy"
) -> SparseImages:
    """The images of many events at once, sparse: for each response exactly the pixels and
    values of ``sparse_image(event_image(response, hcal=hcal))``, without dense images.

    Pixel values: the sum of the track pT in each crystal (float64 sums in hit order, rounded
    to float32), the ECAL hit energies, and each HCAL tower's energy in its 5 x 5 crystals
    ("copy") or a 25th of it ("share"); pixels that round to zero are left out.
    """
    if hcal not in ("copy", "share"):
        raise ValueError(f"hcal must be 'copy' or 'share'; got {hcal!r}")
    n = len(responses)
    if n == 0:
        return SparseImages(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(1, np.int64))
    bad = [k for k, r in enumerate(responses) if not isinstance(r, DetectorResponse)]
    if bad:
        raise ValueError(f"responses[{bad[0]}] must be a DetectorResponse; "
                         f"got {type(responses[bad[0]]).__name__}")
    # Tracks: sum pT per (event, crystal), in hit order (bincount adds in input order).
    ev, ieta, iphi, pt = _cat(responses, "track")
    key = ev * _CHANNEL_SIZE + ieta.astype(np.intp) * ECAL_N_PHI + iphi
    cells, inverse = np.unique(key, return_inverse=True)
    track_val = np.bincount(inverse, weights=np.asarray(pt, dtype=np.float64),
                            minlength=cells.size).astype(np.float32)
    track_ev, track_pix = np.divmod(cells, _CHANNEL_SIZE)
    # ECAL: one hit per crystal, already sorted by (ieta, iphi) within each event.
    ecal_ev, ieta, iphi, energy = _cat(responses, "ecal")
    ecal_pix = _CHANNEL_SIZE + ieta.astype(np.intp) * ECAL_N_PHI + iphi
    ecal_val = (0.0 + np.asarray(energy, dtype=np.float64)).astype(np.float32)
    # HCAL: one hit per tower, sorted by (tower ieta, tower iphi) within each event. The m
    # towers of one tower row fill 5 image rows of 5 m pixels each, so in row-major pixel order
    # pixel (a, b) of the r-th tower of the row comes at position 25 f + 5 m a + 5 r + b, where
    # f is the index of the row's first tower among all towers.
    tower_ev, t_eta, t_phi, t_energy = _cat(responses, "hcal")
    k = HCAL_TOWER_SIZE
    tower_val = 0.0 + np.asarray(t_energy, dtype=np.float64)
    if hcal == "share":
        tower_val = tower_val / k**2
    row_key = tower_ev * HCAL_N_ETA + t_eta
    new_row = np.ones(row_key.size, dtype=bool)
    new_row[1:] = row_key[1:] != row_key[:-1]
    row_start = np.flatnonzero(new_row)
    row_len = np.diff(np.append(row_start, row_key.size))
    first = np.repeat(row_start, row_len)
    m = np.repeat(row_len, row_len)
    rank = np.arange(row_key.size) - first
    a = np.arange(k)[:, None]
    b = np.arange(k)[None, :]
    slot = (k * k * first)[:, None, None] + (k * m)[:, None, None] * a + (k * rank)[:, None, None] + b
    hcal_pix = np.empty(slot.size, dtype=np.intp)
    hcal_pix[slot.reshape(-1)] = (
        2 * _CHANNEL_SIZE
        + ((k * t_eta.astype(np.intp))[:, None, None] + a) * ECAL_N_PHI
        + (k * t_phi.astype(np.intp))[:, None, None] + b
    ).reshape(-1)
    hcal_val = np.empty(slot.size, dtype=np.float32)
    hcal_val[slot.reshape(-1)] = np.repeat(tower_val.astype(np.float32), k * k)
    hcal_ev = np.repeat(tower_ev, k * k)
    # Merge event by event: tracks, then ECAL, then HCAL pixels of event 0, then event 1 ...
    counts = np.stack([np.bincount(e, minlength=n) for e in (track_ev, ecal_ev, hcal_ev)])
    start = np.concatenate([[0], np.cumsum(counts.sum(axis=0))])[:-1]
    pix = np.empty(int(counts.sum()), dtype=np.intp)
    val = np.empty(pix.size, dtype=np.float32)
    before = np.zeros(n, dtype=np.intp)  # pixels of earlier channels in the same event
    for c, (e, p, v) in enumerate(((track_ev, track_pix, track_val), (ecal_ev, ecal_pix, ecal_val),
                                   (hcal_ev, hcal_pix, hcal_val))):
        first_of_event = np.concatenate([[0], np.cumsum(counts[c])])[:-1]
        slots = start[e] + before[e] + np.arange(e.size) - first_of_event[e]
        pix[slots] = p
        val[slots] = v
        before = before + counts[c]
    keep = val != 0
    kept = np.bincount(np.repeat(np.arange(n), counts.sum(axis=0))[keep], minlength=n)
    offsets = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
    return SparseImages(pix[keep].astype(np.int32), val[keep], offsets)


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
    image = sparse_images([response], hcal=hcal).dense(0)
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
