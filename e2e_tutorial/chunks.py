"""One chunk of a dataset: its settings and seeds, the batched chain that makes its events, and
its file (the unit of work of :mod:`e2e_tutorial.datasets`, which documents the scheme).

This module holds everything a worker process needs to make a chunk, and nothing that needs
torch, so that spawned workers start in a fraction of a second more than Python itself.
:mod:`e2e_tutorial.datasets` re-exports its public names.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from e2e_tutorial import detector, generation, images

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_CHUNK_SIZE",
    "SIMULATION_BATCH",
    "COURSE_MPI",
    "COURSE_PREFILTER",
    "REQUIRED_PHOTON_FIELDS",
    "DatasetSpec",
    "chunk_seeds",
    "simulate_chunk",
]

#: Value of the ``format`` attribute of every file this module writes.
FORMAT = "e2e_tutorial.datasets"


#: Version of the file layout; files of another version are refused.
FORMAT_VERSION = 1


#: Selected events per chunk (the unit of work, of resuming and of sharding).
DEFAULT_CHUNK_SIZE = 100


#: Events passed together through detector, images and reconstruction (their per-event cost is
#: mostly numpy's per-call overhead when done one by one). Part of the seed scheme: the detector's
#: random numbers are drawn batch by batch, so another value gives other (equally valid) events.
SIMULATION_BATCH = 32


#: Multi-parton interactions (the underlying event) in every dataset of the course: off. They
#: make Pythia 7-12 times slower without changing the selection efficiencies, and the full-mode
#: datasets must fit the book's time budget (benchmarks/gamma_jet_filter.md, sections 1, 2 and 7).
#: The images are therefore cleaner than the study's (which also had pile-up): the book says so.
#: One setting for all processes, or the soft activity alone would tell the classes apart.
COURSE_MPI = False


#: The generator-level pre-filter for every process: it lost no selected event of any process
#: with the course's own reconstruction and spares the detector simulation of most events
#: (benchmarks/gamma_jet_filter.md, section 3).
COURSE_PREFILTER = True


#: Photon fields a reconstruction must provide (crops need ieta, iphi).
REQUIRED_PHOTON_FIELDS = ("energy", "pt", "eta", "phi", "ieta", "iphi")


#: A chunk gives up after this many simulated events per selected event it must make.
_MAX_SIMULATED_PER_SELECTED = 10_000


_COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


_EVENT_KEYS = (
    "image/indices",
    "image/values",
    "image/offsets",
    "features",
    "mass",
    "photons",
    "truth/chunk",
    "truth/event",
    "truth/pt_hat",
    "truth/m_hat",
    "truth/weight",
)


def _check_positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{what} must be a positive integer; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is made of; equal specs (and code) give identical files.

    ``process``: "h", "gg" or "gj". ``n_events``: selected events. ``seed``: master seed, an
    integer in [0, 2**63). ``chunk_size``: selected events per chunk. ``mpi``: multi-parton
    interactions in Pythia (default :data:`COURSE_MPI`). ``prefilter``: the generator-level
    pre-filter of :func:`e2e_tutorial.generation.generate_with_truth` (default
    :data:`COURSE_PREFILTER`); None means on for "gj" only, as in the study's double-EM-enriched
    gamma+jet sample.
    """

    process: str
    n_events: int
    seed: int
    chunk_size: int = DEFAULT_CHUNK_SIZE
    mpi: bool = COURSE_MPI
    prefilter: bool | None = COURSE_PREFILTER

    def __post_init__(self) -> None:
        generation.process_info(self.process)  # ValueError listing the valid names
        object.__setattr__(self, "n_events", _check_positive(self.n_events, "n_events (selected events)"))
        object.__setattr__(self, "chunk_size", _check_positive(self.chunk_size, "chunk_size"))
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63); got {seed!r}")
        object.__setattr__(self, "seed", int(seed))
        if not isinstance(self.mpi, (bool, np.bool_)):
            raise ValueError(f"mpi must be True or False; got {self.mpi!r}")
        object.__setattr__(self, "mpi", bool(self.mpi))
        prefilter = self.process == "gj" if self.prefilter is None else self.prefilter
        if not isinstance(prefilter, (bool, np.bool_)):
            raise ValueError(f"prefilter must be True, False or None (auto); got {self.prefilter!r}")
        object.__setattr__(self, "prefilter", bool(prefilter))

    @property
    def n_chunks(self) -> int:
        """Number of chunks: ceil(n_events / chunk_size)."""
        return -(-self.n_events // self.chunk_size)

    def chunk_events(self, chunk: int) -> int:
        """Selected events of chunk ``chunk`` (chunk_size, or the remainder for the last)."""
        if not 0 <= chunk < self.n_chunks:
            raise ValueError(f"chunk must be in [0, {self.n_chunks - 1}]; got {chunk!r}")
        return min(self.chunk_size, self.n_events - chunk * self.chunk_size)

    def generate_args(self) -> str:
        """The options of ``generate`` that fix the content (no --out, --shard, --workers)."""
        return (
            f"--process {self.process} --events {self.n_events} --seed {self.seed} "
            f"--chunk-size {self.chunk_size} {'--mpi' if self.mpi else '--no-mpi'} "
            f"{'--prefilter' if self.prefilter else '--no-prefilter'}"
        )


def chunk_seeds(seed: int, process: str, chunk: int) -> tuple[int, int]:
    """(Pythia ``Random:seed`` in 1..900 000 000, detector seed in [0, 2**63)) of a chunk.

    Both come from ``numpy.random.SeedSequence([seed, crc32(process), chunk])``, so chunks and
    processes get independent streams from one master seed.
    """
    entropy = [int(seed), zlib.crc32(process.encode()), int(chunk)]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint64)
    pythia_seed = generation.SEED_MIN + int(state[0] % (generation.SEED_MAX - generation.SEED_MIN + 1))
    return pythia_seed, int(state[1] >> np.uint64(1))


def _plain(value: Any) -> Any:
    """A JSON-able Python value of an attribute or parameter (numpy scalars -> Python)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _json(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _default_reconstruct() -> Callable:
    """The course's reconstruction, imported only when events are made."""
    try:
        from e2e_tutorial.reconstruction import reconstruct_many
    except ImportError as err:
        raise ImportError(
            f"e2e_tutorial.reconstruction is needed to select events ({err}); "
            "pass reconstruct=... to use another reconstruction"
        ) from err
    return reconstruct_many


def _packed(dtype: np.dtype) -> np.dtype:
    """The structured dtype without padding (as HDF5 stores it), native byte order."""
    return np.dtype([(name, dtype.fields[name][0].newbyteorder("=")) for name in dtype.names])


def _check_reco(reco: Any, n_events: int) -> None:
    """A reconstruction's batch result must have what is stored of selected events."""
    photons = np.asarray(reco.photons)
    missing = [f for f in REQUIRED_PHOTON_FIELDS if f not in (photons.dtype.names or ())]
    if missing:
        raise ValueError(f"the reconstruction's photons lack the field(s) {missing}; "
                         f"expected at least {REQUIRED_PHOTON_FIELDS}")
    shapes = {"pair": (n_events, 2), "mass": (n_events,), "features": (n_events, 5)}
    for name, shape in shapes.items():
        got = np.shape(getattr(reco, name))
        if got != shape:
            raise ValueError(f"the reconstruction's {name} must have shape {shape} for a batch of "
                             f"{n_events} events; got {got}")


def simulate_chunk(
    spec: DatasetSpec, chunk: int, reconstruct: Callable | None = None
) -> tuple[dict[str, np.ndarray], dict[str, int | float]]:
    """Make chunk ``chunk`` of ``spec`` in memory: (arrays of the selected events, counters).

    Runs Pythia with the chunk's seed and passes its events, :data:`SIMULATION_BATCH` at a
    time, through ``detector.simulate_many`` (one random generator seeded by the chunk's
    detector seed, :func:`chunk_seeds`), ``images.sparse_images`` and ``reconstruct`` (default
    ``reconstruction.reconstruct_many``) until :meth:`DatasetSpec.chunk_events` events are
    selected. Counters: n_events, n_simulated (events up to and including the last one kept),
    n_accepted, n_tried (Pythia's counters at that event), pythia_seed, detector_seed,
    sigma_gen_mb, sigma_err_mb, seconds.
    """
    reconstruct = reconstruct or _default_reconstruct()
    target = spec.chunk_events(chunk)
    pythia_seed, detector_seed = chunk_seeds(spec.seed, spec.process, chunk)
    rng = np.random.default_rng(detector_seed)
    start = time.perf_counter()
    events = generation.generate_with_truth(
        spec.process, sys.maxsize, pythia_seed, mpi=spec.mpi, prefilter=spec.prefilter
    )
    parts: list[dict[str, np.ndarray]] = []
    n_selected = n_simulated = 0
    try:
        while n_selected < target:
            batch = list(itertools.islice(events, SIMULATION_BATCH))
            sparse = images.sparse_images(detector.simulate_many([p for p, _ in batch], rng))
            reco = reconstruct(sparse)
            _check_reco(reco, len(batch))
            chosen = np.flatnonzero(reco.selected)[: target - n_selected]
            if chosen.size:
                parts.append(_selected_arrays(sparse, reco, chosen, chunk, n_simulated, batch))
                n_selected += chosen.size
            used = int(chosen[-1]) + 1 if n_selected == target else len(batch)
            truth = batch[used - 1][1]
            n_simulated += used
            if n_selected < target and n_simulated >= _MAX_SIMULATED_PER_SELECTED * target:
                raise RuntimeError(
                    f"chunk {chunk} of {spec.process!r}: only {n_selected} of {target} events "
                    f"selected after {n_simulated} simulated; is the selection broken?"
                )
    finally:
        events.close()
    counters = {
        "n_events": target, "n_simulated": n_simulated, "n_accepted": truth.n_generated,
        "n_tried": truth.n_tried, "pythia_seed": pythia_seed, "detector_seed": detector_seed,
        "sigma_gen_mb": truth.sigma_mb, "sigma_err_mb": truth.sigma_err_mb,
        "seconds": time.perf_counter() - start,
    }
    return _concatenate(parts), counters


def _selected_arrays(
    sparse: images.SparseImages, reco: Any, chosen: NDArray[np.intp], chunk: int, first: int,
    batch: list[tuple[np.ndarray, Any]],
) -> dict[str, np.ndarray]:
    """The arrays of :data:`_EVENT_KEYS` for the events ``chosen`` of one simulated batch whose
    first event is number ``first`` of the chunk."""
    lo, hi = sparse.offsets[chosen], sparse.offsets[chosen + 1]
    nnz = hi - lo
    pixels = np.repeat(lo - (np.cumsum(nnz) - nnz), nnz) + np.arange(int(nnz.sum()))
    photons = np.asarray(reco.photons)[np.asarray(reco.pair)[chosen]]
    truths = [batch[k][1] for k in chosen]
    return {
        "image/indices": sparse.indices[pixels].astype(np.int32),
        "image/values": sparse.values[pixels].astype(np.float32),
        "image/offsets": nnz.astype(np.int64),  # counts here; offsets after concatenation
        "features": np.asarray(reco.features)[chosen].astype(np.float32),
        "mass": np.asarray(reco.mass)[chosen].astype(np.float64),
        "photons": photons.astype(_packed(photons.dtype)),
        "truth/chunk": np.full(chosen.size, chunk, dtype=np.int32),
        "truth/event": (first + chosen).astype(np.int64),
        "truth/pt_hat": np.array([t.pt_hat for t in truths], dtype=np.float64),
        "truth/m_hat": np.array([t.m_hat for t in truths], dtype=np.float64),
        "truth/weight": np.array([t.weight for t in truths], dtype=np.float64),
    }


def _concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One chunk's arrays from those of its batches (pixel counts turned into offsets)."""
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    out["image/offsets"] = np.concatenate([[0], np.cumsum(out["image/offsets"])]).astype(np.int64)
    return out


@contextmanager
def _atomic(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success fsync it and rename it to
    ``final`` (atomic), on any error or interruption remove it."""
    tmp = final.with_name(f"{final.name}.{os.getpid()}.partial")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _create(f: h5py.File, key: str, shape: tuple[int, ...], dtype: np.dtype) -> h5py.Dataset:
    """A gzip-compressed dataset with a fixed chunk layout (so equal data give equal bytes)."""
    if shape[0] == 0:
        return f.create_dataset(key, shape=shape, dtype=dtype, track_times=False)
    rows = min(shape[0], 1 << 16 if len(shape) == 1 else 4096)
    return f.create_dataset(key, shape=shape, dtype=dtype, chunks=(rows, *shape[1:]),
                            track_times=False, **_COMPRESSION)


def _array_digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).reshape(-1).view(np.uint8)).hexdigest()


def _content_sha256(digests: dict[str, tuple[str, tuple, str]], attrs: dict[str, Any]) -> str:
    """Hash of every array (key, dtype, shape, SHA-256 of its bytes) and every attribute
    but ``content_sha256`` itself."""
    h = hashlib.sha256()
    for key in sorted(digests):
        descr, shape, digest = digests[key]
        h.update(f"{key}|{descr}|{list(shape)}|{digest}\n".encode())
    h.update(_json({k: _plain(v) for k, v in attrs.items() if k != "content_sha256"}).encode())
    return h.hexdigest()


def _digests(arrays: dict[str, np.ndarray]) -> dict[str, tuple[str, tuple, str]]:
    return {k: (str(a.dtype.descr), a.shape, _array_digest(a)) for k, a in arrays.items()}


def _write_attrs(f: h5py.File, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        f.attrs[key] = value


def _write_chunk_file(path: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write one chunk file atomically; ``content_sha256`` is added to ``attrs``."""
    attrs = {**attrs, "content_sha256": _content_sha256(_digests(arrays), attrs)}
    with _atomic(path) as tmp:
        with h5py.File(tmp, "w") as f:
            _write_attrs(f, attrs)
            for key in _EVENT_KEYS:
                _create(f, key, arrays[key].shape, arrays[key].dtype)[...] = arrays[key]


@dataclass(frozen=True)
class _ChunkJob:
    """One chunk to make (picklable, for worker processes)."""

    spec: DatasetSpec
    chunk: int
    path: Path
    fingerprint: dict[str, Any]
    reconstruct: Callable


def _run_chunk_job(job: _ChunkJob) -> dict[str, int | float]:
    """Make one chunk and write its file; return its counters."""
    arrays, counters = simulate_chunk(job.spec, job.chunk, job.reconstruct)
    attrs = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "chunk",
        "process": job.spec.process, "seed": job.spec.seed, "chunk_size": job.spec.chunk_size,
        "chunk": job.chunk, **counters, "generate_args": job.spec.generate_args(),
        "fingerprint": _json(job.fingerprint),
    }
    _write_chunk_file(job.path, arrays, attrs)
    return {"chunk": job.chunk, **counters}

