"""Datasets of selected events: generation in chunks, HDF5 storage, checksums, torch loading.

One dataset file holds ``n_events`` events of one process ("h", "gg" or "gj") that passed the
study's diphoton selection. Every event goes through the whole chain of the course:

    generation.generate_with_truth (Pythia 8)  ->  detector.simulate_many  ->  images.sparse_images
    ->  reconstruction.reconstruct_many  ->  kept only if it selects a photon pair

(the last three take :data:`SIMULATION_BATCH` events at a time: the images and the
reconstruction are event by event exactly those of ``images.event_image`` and
``reconstruction.reconstruct_event``; the detector is the model of ``detector.simulate`` with
its random numbers drawn for the whole batch at once).

Make one from the command line (``--help`` lists every option)::

    python -m e2e_tutorial.datasets generate --process h --events 10000 --seed 2021 \\
        --out data/generated/h.h5                         # all cores, resumable
    python -m e2e_tutorial.datasets generate ... --shard 3/8 --no-merge   # on a batch system
    python -m e2e_tutorial.datasets merge --out data/generated/h.h5       # after all shards
    python -m e2e_tutorial.datasets verify data/generated/h.h5

and read it with :func:`load_dataset` (torch datasets of features, images or crops) or
:func:`binary_task` (signal and background with labels and train/validation/test splits).

Chunks, seeds, shards, resuming
-------------------------------
The events are made in chunks of ``chunk_size`` selected events (default
:data:`DEFAULT_CHUNK_SIZE`; the last chunk holds the remainder). Chunk k is independent of all
others: its Pythia seed (1..900 000 000) and the seed of its detector random generator come
from ``numpy.random.SeedSequence([seed, crc32(process), k])`` (:func:`chunk_seeds`), and it
generates events until ``chunk_size`` of them are selected. The dataset is therefore the same
whether made by one process, by ``--workers`` processes or by ``--shard i/n`` jobs (shards are
**1-based**: shard i of n makes the chunks k with k % n == i - 1), and the first m chunks of a
larger dataset with the same seed and chunk size are the smaller one.

Each chunk is written to ``<out>.chunks/chunk_<k>.h5`` under a temporary name ending in
``.partial`` and renamed when complete, so an interrupted run loses only the chunks in
progress; running the same command again verifies the chunks already there (structure,
checksum, settings) and makes only the missing ones. A chunk made with other settings (seed,
MPI, detector parameters, code, package versions...) is an error, never reused. When every
chunk is there, they are merged in order into ``out`` (again via a temporary name) and the
work folder is removed.

File layout (HDF5; n = events, nnz = non-zero pixels of all events, c = chunks)
--------------------------------------------------------------------------------
=======================  ============  =========  ==============================================
key                      shape         dtype      meaning
=======================  ============  =========  ==============================================
``image/indices``        (nnz,)        int32      flat pixel index c*61200 + ieta*360 + iphi of
                                                  the non-zero pixels of the (3, 170, 360) image
``image/values``         (nnz,)        float32    their values, GeV (channels tracks, ECAL, HCAL)
``image/offsets``        (n + 1,)      int64      event i owns entries offsets[i]:offsets[i+1]
``features``             (n, 5)        float32    [pT1/m, eta1, pT2/m, eta2, cos dphi]
``mass``                 (n,)          float64    m_gammagamma of the selected pair, GeV
``photons``              (n, 2)        compound   the selected pair (leading first), fields of
                                                  reconstruction.PHOTON_DTYPE (energy, pt, eta,
                                                  phi, ieta, iphi, shower shapes, isolation)
``truth/chunk``          (n,)          int32      chunk the event comes from
``truth/event``          (n,)          int64      its index among the chunk's simulated events
``truth/pt_hat``         (n,)          float64    Pythia pT-hat, GeV (0 for gg -> H)
``truth/m_hat``          (n,)          float64    Pythia m-hat, GeV
``truth/weight``         (n,)          float64    Pythia event weight (1)
``chunks/n_selected``    (c,)          int64      selected events of each chunk
``chunks/n_simulated``   (c,)          int64      events through detector + reconstruction, up
                                                  to the chunk's last selected one (events
                                                  after it in its batch are not counted)
``chunks/n_accepted``    (c,)          int64      complete Pythia events (Info.nAccepted) at
                                                  the chunk's last selected event
``chunks/n_tried``       (c,)          int64      hard processes drawn (Info.nSelected) then
``chunks/pythia_seed``   (c,)          int64      Random:seed of the chunk
``chunks/detector_seed`` (c,)          int64      seed of the chunk's detector generator
``chunks/sigma_gen_mb``  (c,)          float64    Pythia's cross-section estimate, mb
``chunks/sigma_err_mb``  (c,)          float64    its uncertainty, mb
=======================  ============  =========  ==============================================

The selected cross section of chunk k is sigma_gen_mb * n_selected / n_accepted (with the
pre-filter sigma_gen already includes its hard-process stage). Root attributes: format and
versions (package, pythia8mc, numpy, scipy, h5py, HDF5), process and its description, seed,
n_events, chunk_size, n_chunks, mpi, prefilter, generator settings, pre-filter settings,
detector parameters, reconstruction function, feature names, image layout (shape, channels, units),
seed scheme, ``command`` (the command that makes the file), totals of simulated/tried events
and efficiencies, ``code_sha256`` (hash of the source of the modules of the chain) and
``content_sha256`` (hash of every array and attribute). Lists and dictionaries are JSON
strings. A file is a pure function of its settings, its code and its file name (``command``
names it): it holds no time stamp, host name or actual command line (those go to the
manifest), so equal settings give byte-identical files whether made by one job, by several
workers, by shards or after an interruption.

Manifests and verification
--------------------------
Every merge writes a JSON manifest with the file's SHA-256, size and the command that makes it:
in ``data/manifests/<path below data/>.json`` for files under the repository's ``data/``
folder (so the manifest can be committed), else next to the file as ``<file>.manifest.json``;
``--manifest PATH`` chooses another place. Opening a file checks it against its manifest when
one exists (``verify_checksum=False`` skips this) and always checks its structure (keys,
shapes, offsets, attributes) and ``content_sha256``; a missing, truncated, corrupted or
inconsistent file raises :class:`DatasetError` with the command that regenerates it.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import math
import multiprocessing
import os
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

import e2e_tutorial
from e2e_tutorial import config, detector, generation, images
from e2e_tutorial.chunks import (  # the chunk-making half; re-exported here
    COURSE_MPI,
    COURSE_PREFILTER,
    DEFAULT_CHUNK_SIZE,
    FORMAT,
    FORMAT_VERSION,
    REQUIRED_PHOTON_FIELDS,
    SIMULATION_BATCH,
    DatasetSpec,
    _atomic,
    _ChunkJob,
    _check_positive,
    _content_sha256,
    _create,
    _default_reconstruct,
    _digests,
    _EVENT_KEYS,
    _json,
    _plain,
    _run_chunk_job,
    _write_attrs,
    chunk_seeds,
    simulate_chunk,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_CHUNK_SIZE",
    "SIMULATION_BATCH",
    "PROCESSES",
    "KINDS",
    "IMAGE_SIZE",
    "REQUIRED_PHOTON_FIELDS",
    "DatasetError",
    "DatasetSpec",
    "chunk_seeds",
    "shard_chunks",
    "simulate_chunk",
    "generate_dataset",
    "merge_chunks",
    "work_dir",
    "default_manifest_path",
    "regenerate_command",
    "verify_dataset",
    "EventDataset",
    "load_dataset",
    "TaskSplits",
    "classification_task",
    "binary_task",
    "main",
]


#: Process names, as in :data:`e2e_tutorial.generation.PROCESSES`.
PROCESSES = tuple(generation.PROCESSES)
#: What :func:`load_dataset` can return per event.
KINDS = ("features", "image", "crops")
#: Pixels of a full event image (3 x 170 x 360).
IMAGE_SIZE = images.IMAGE_SIZE

_REPO_ROOT = Path(__file__).resolve().parents[1]
_DATA_DIR = _REPO_ROOT / "data"
_MANIFEST_DIR = _DATA_DIR / "manifests"
#: The small committed samples, one per process: the datasets of fast mode.
SAMPLES_DIR = _DATA_DIR / "samples"
#: The full-mode datasets that ``make data`` generates (git-ignored).
GENERATED_DIR = _DATA_DIR / "generated"
_CLI = "python -m e2e_tutorial.datasets"
#: Per-event arrays (first axis = event); image/indices and image/values are per pixel.
_PER_EVENT_KEYS = ("features", "mass", "photons", "truth/chunk", "truth/event",
                   "truth/pt_hat", "truth/m_hat", "truth/weight")
_CHUNK_TABLE = {  # key -> (chunk-file attribute, dtype)
    "chunks/n_selected": ("n_events", np.int64),
    "chunks/n_simulated": ("n_simulated", np.int64),
    "chunks/n_accepted": ("n_accepted", np.int64),
    "chunks/n_tried": ("n_tried", np.int64),
    "chunks/pythia_seed": ("pythia_seed", np.int64),
    "chunks/detector_seed": ("detector_seed", np.int64),
    "chunks/sigma_gen_mb": ("sigma_gen_mb", np.float64),
    "chunks/sigma_err_mb": ("sigma_err_mb", np.float64),
}
_REQUIRED_ATTRS = ("format", "format_version", "kind", "process", "seed", "n_events",
                   "chunk_size", "generate_args", "fingerprint", "content_sha256")


class DatasetError(RuntimeError):
    """A dataset or chunk file is missing, truncated, corrupted, inconsistent or made with other
    settings. The message names the file and says how to make it again."""


class _OtherSettingsError(DatasetError):
    """A chunk file made with other settings than the ones asked for (never reused)."""


# ---------------------------------------------------------------------------------------------
# Shards (settings and seeds of chunks: e2e_tutorial.chunks)
# ---------------------------------------------------------------------------------------------


def shard_chunks(n_chunks: int, shard: int, n_shards: int) -> list[int]:
    """Chunks of shard ``shard`` of ``n_shards`` (1-based): k with k % n_shards == shard - 1."""
    _check_shard(shard, n_shards)
    return list(range(shard - 1, n_chunks, n_shards))


def _check_shard(shard: int, n_shards: int) -> None:
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (shard, n_shards))
    if not ints or n_shards < 1 or not 1 <= shard <= n_shards:
        raise ValueError(
            f"shard must be i/n with 1 <= i <= n (shards are 1-based), e.g. 1/4; got {shard!r}/{n_shards!r}"
        )


# ---------------------------------------------------------------------------------------------
# Provenance: versions, code hash, fingerprint
# ---------------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    """Versions of the packages that shape the content of a dataset."""
    return {
        "e2e_tutorial": e2e_tutorial.__version__,
        "pythia8mc": importlib.metadata.version("pythia8mc"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def _function_name(fn: Callable) -> str:
    """``module.qualname`` of a function (with the keywords of a functools.partial)."""
    if isinstance(fn, functools.partial):
        kw = ", ".join(f"{k}={v!r}" for k, v in sorted(fn.keywords.items()))
        return f"{_function_name(fn.func)}({kw})"
    return f"{fn.__module__}.{fn.__qualname__}"


def _code_sha256(reconstruct: Callable) -> str:
    """SHA-256 of the source files of the chain (coordinates, generation, detector, images,
    chunks, this module and the module of ``reconstruct``): a chunk made by other code is not
    reused."""
    fn = reconstruct.func if isinstance(reconstruct, functools.partial) else reconstruct
    modules = ["e2e_tutorial.coordinates", "e2e_tutorial.generation", "e2e_tutorial.detector",
               "e2e_tutorial.images", "e2e_tutorial.chunks", __name__, fn.__module__]
    h = hashlib.sha256()
    for name in dict.fromkeys(modules):
        source = getattr(sys.modules.get(name), "__file__", None)
        h.update(name.encode() + b"\0")
        if source:
            h.update(Path(source).read_bytes())
    return h.hexdigest()


def _feature_names() -> list[str]:
    from e2e_tutorial.reconstruction import FEATURE_NAMES

    return list(FEATURE_NAMES)


def _generator_settings(spec: DatasetSpec) -> list[str]:
    """Pythia settings of every chunk (the seed differs per chunk, see :func:`chunk_seeds`)."""
    common = generation._common_settings(generation.SEED_MIN, spec.mpi)
    common = [s if not s.startswith("Random:seed") else "Random:seed = <chunk_seeds()>" for s in common]
    return [*common, *generation.process_info(spec.process).settings]


def _prefilter_settings(spec: DatasetSpec) -> dict[str, Any]:
    if not spec.prefilter:
        return {}
    g = generation
    return {
        "hard_process_cut": g.process_info(spec.process).hard_cut,
        "HARD_ETA_MAX": g.HARD_ETA_MAX, "HARD_MASS_MIN": g.HARD_MASS_MIN,
        "EM_SEED_PT_MIN": g.EM_SEED_PT_MIN, "EM_CONE": g.EM_CONE, "EM_PT_MIN": g.EM_PT_MIN,
        "EM_ETA_MAX": g.EM_ETA_MAX, "EM_MASS_MIN": g.EM_MASS_MIN,
    }


def _fingerprint(spec: DatasetSpec, reconstruct: Callable) -> dict[str, Any]:
    """Everything that determines the content of a chunk (not n_events: chunks do not
    depend on it). Chunks are reused only if their fingerprint equals this one."""
    return {
        "format_version": FORMAT_VERSION,
        "process": spec.process,
        "seed": spec.seed,
        "chunk_size": spec.chunk_size,
        "simulation_batch": SIMULATION_BATCH,
        "mpi": spec.mpi,
        "prefilter": spec.prefilter,
        "generator_settings": _generator_settings(spec),
        "prefilter_settings": _plain(_prefilter_settings(spec)),
        "detector_params": {row[0]: _plain(row[1]) for row in detector.parameter_table(detector.DEFAULT)},
        "image": {"shape": list(images.IMAGE_SHAPE), "channels": list(images.CHANNELS), "hcal": "copy"},
        "reconstruction": _function_name(reconstruct),
        "feature_names": _feature_names(),
        "versions": _versions(),
        "code_sha256": _code_sha256(reconstruct),
    }


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'key: old -> new' for every leaf that differs between two nested dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} (there) vs {b!r} (now)")
    return out


# ---------------------------------------------------------------------------------------------
# HDF5 reading (writing and hashing: e2e_tutorial.chunks)
# ---------------------------------------------------------------------------------------------


def _read_h5(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """All attributes (plain Python values) and all arrays of an HDF5 file."""
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        attrs = {k: _plain(v) for k, v in f.attrs.items()}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                arrays[name] = obj[()]

        f.visititems(visit)
    return attrs, arrays


# ---------------------------------------------------------------------------------------------
# Structure checks (chunks and datasets)
# ---------------------------------------------------------------------------------------------


def _structure_problems(attrs: dict[str, Any], arrays: dict[str, np.ndarray], kind: str) -> list[str]:
    """What is wrong with a file's attributes and arrays (empty list: nothing)."""
    missing_attrs = [k for k in _REQUIRED_ATTRS if k not in attrs]
    if attrs.get("format") != FORMAT:
        return [f"format is {attrs.get('format')!r}, expected {FORMAT!r}"]
    if attrs.get("format_version") != FORMAT_VERSION:
        return [f"format_version is {attrs.get('format_version')!r}; this code reads {FORMAT_VERSION}"]
    if attrs.get("kind") != kind:
        return [f"kind is {attrs.get('kind')!r}, expected {kind!r}"]
    keys = list(_EVENT_KEYS) + (list(_CHUNK_TABLE) if kind == "dataset" else [])
    missing = [k for k in keys if k not in arrays]
    if missing_attrs or missing:
        return [f"missing attribute(s) {missing_attrs} and array(s) {missing}"]
    problems = []
    n = attrs["n_events"]
    off = arrays["image/offsets"]
    nnz = len(arrays["image/indices"])
    if off.shape != (n + 1,) or off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] != nnz:
        problems.append(f"image/offsets (shape {off.shape}) do not run monotonically from 0 to {nnz} "
                        f"over {n} events")
    if len(arrays["image/values"]) != nnz:
        problems.append(f"image/values has {len(arrays['image/values'])} entries, image/indices {nnz}")
    idx = arrays["image/indices"]
    if nnz and (idx.min() < 0 or idx.max() >= IMAGE_SIZE):
        problems.append(f"image/indices outside [0, {IMAGE_SIZE})")
    if not np.all(np.isfinite(arrays["image/values"])):
        problems.append("image/values holds non-finite numbers")
    for key in _PER_EVENT_KEYS:
        if len(arrays[key]) != n:
            problems.append(f"{key} has {len(arrays[key])} rows, expected n_events = {n}")
    if arrays["features"].shape[1:] != (5,) or arrays["photons"].shape[1:] != (2,):
        problems.append(f"features {arrays['features'].shape} / photons {arrays['photons'].shape} "
                        f"are not (n, 5) / (n, 2)")
    names = arrays["photons"].dtype.names or ()
    if any(f not in names for f in REQUIRED_PHOTON_FIELDS):
        problems.append(f"photons lack some of the fields {REQUIRED_PHOTON_FIELDS}")
    if kind == "dataset":
        sel = arrays["chunks/n_selected"]
        if len(sel) != attrs.get("n_chunks") or sel.sum() != n:
            problems.append(f"chunks/n_selected ({len(sel)} chunks, {sel.sum()} events) does not "
                            f"match n_chunks = {attrs.get('n_chunks')} and n_events = {n}")
    if not problems and _content_sha256(_digests(arrays), attrs) != attrs["content_sha256"]:
        problems.append("content_sha256 does not match the arrays and attributes (corrupted data)")
    return problems


# ---------------------------------------------------------------------------------------------
# Work folder, chunk files, settings file
# ---------------------------------------------------------------------------------------------


def work_dir(out: str | os.PathLike) -> Path:
    """The folder holding the chunks of the dataset ``out`` while it is made: ``<out>.chunks``."""
    out = Path(out)
    return out.with_name(out.name + ".chunks")


def _chunk_path(work: Path, chunk: int) -> Path:
    return work / f"chunk_{chunk:05d}.h5"


def _settings_path(work: Path) -> Path:
    return work / "settings.json"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _check_settings_file(work: Path, spec: DatasetSpec, fingerprint: dict[str, Any]) -> None:
    """Write ``settings.json`` into a new work folder; in an existing one, refuse other settings."""
    wanted = {"spec": dataclasses.asdict(spec), "fingerprint": fingerprint}
    path = _settings_path(work)
    if not path.exists():
        _write_json(path, wanted)
        return
    try:
        there = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {path} ({err}); delete the folder {work} to start over") from None
    diff = _differences(there, wanted)
    if diff:
        raise DatasetError(
            f"the work folder {work} holds chunks made with other settings:\n  "
            + "\n  ".join(diff)
            + f"\nRun with the same settings to resume, or delete {work} to start over."
        )


def _load_chunk(path: Path, chunk: int, spec: DatasetSpec, fingerprint: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Attributes and arrays of a chunk file, checked. Raises DatasetError if it was made with
    other settings (_OtherSettingsError) or is unreadable or damaged."""
    try:
        attrs, arrays = _read_h5(path)
    except Exception as err:  # h5py raises OSError, KeyError, ValueError... on damaged files
        raise DatasetError(f"chunk file {path} is unreadable ({err})") from None
    if "fingerprint" in attrs and attrs["fingerprint"] != _json(fingerprint):
        diff = _differences(json.loads(attrs["fingerprint"]), fingerprint)
        raise _OtherSettingsError(
            f"chunk file {path} was made with other settings:\n  "
            + "\n  ".join(diff or ["(fingerprint differs)"])
            + f"\nDelete {path.parent} to start over, or run with the settings it was made with."
        )
    problems = _structure_problems(attrs, arrays, "chunk")
    expected = {"chunk": chunk, "n_events": spec.chunk_events(chunk)}
    problems += [f"{k} is {attrs.get(k)!r}, expected {v!r}" for k, v in expected.items() if attrs.get(k) != v]
    if problems:
        raise DatasetError(f"chunk file {path} is damaged: " + "; ".join(problems))
    return attrs, arrays


def _reusable_chunk(work: Path, chunk: int, spec: DatasetSpec, fingerprint: dict[str, Any]) -> bool:
    """True if chunk ``chunk`` is already made and sound; a damaged one is deleted (it will be
    made again); one made with other settings raises DatasetError."""
    path = _chunk_path(work, chunk)
    if not path.exists():
        return False
    try:
        _load_chunk(path, chunk, spec, fingerprint)
    except _OtherSettingsError:
        raise
    except DatasetError as err:
        warnings.warn(f"{err}; making it again", stacklevel=2)
        path.unlink()
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------


class _Progress:
    """Selected events done: a tqdm bar on a terminal, one line per chunk otherwise."""

    def __init__(self, label: str, total: int, done: int, enabled: bool) -> None:
        self.label, self.total, self.done, self.enabled = label, total, done, enabled
        self.start = time.perf_counter()
        self.new = 0
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            size = shutil.get_terminal_size((80, 24))  # some ptys report 0 x 0: tqdm would hide the bar
            self.bar = tqdm(total=total, initial=done, unit="ev", desc=label, file=sys.stderr,
                            ncols=size.columns or 80, nrows=size.lines or 24)

    def update(self, counters: dict[str, int | float]) -> None:
        n = int(counters["n_events"])
        self.done += n
        self.new += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled:
            rate = self.new / max(time.perf_counter() - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(f"[{self.label}] chunk {counters['chunk']} done: {self.done}/{self.total} events, "
                  f"{rate:.2f} selected events/s, {eta:.0f} s to go", file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if self.enabled:
            print(f"[{self.label}] {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_jobs(jobs: list[_ChunkJob], workers: int, progress: _Progress) -> None:
    """Run chunk jobs in this process (workers == 1), or here and in ``workers - 1`` spawned
    processes at once.

    This process makes chunks too: it starts right away while the spawned ones are still
    starting Python and importing the package (a second or two), so two workers cost little
    more than half the time of one. Each spawned process is kept busy with one chunk running
    and one queued; this process takes the next chunk whenever it is free.
    """
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            progress.update(_run_chunk_job(job))
        return
    todo = collections.deque(jobs)
    n_spawned = min(workers, len(jobs)) - 1
    pool = ProcessPoolExecutor(max_workers=n_spawned, mp_context=multiprocessing.get_context("spawn"))
    running: set[Future] = set()
    try:
        while todo or running:
            while todo and len(running) < 2 * n_spawned:
                running.add(pool.submit(_run_chunk_job, todo.popleft()))
            if todo:
                progress.update(_run_chunk_job(todo.popleft()))
            else:
                wait(running, return_when=FIRST_COMPLETED)
            for future in [f for f in running if f.done()]:
                running.remove(future)
                progress.update(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# Generate
# ---------------------------------------------------------------------------------------------


def default_manifest_path(path: str | os.PathLike) -> Path:
    """Where the manifest of the dataset ``path`` goes by default: for a file under the
    repository's ``data/`` folder, ``data/manifests/<its path below data/>.json``; else
    ``<path>.manifest.json`` next to it."""
    path = Path(path).resolve()
    if _DATA_DIR.is_dir() and path.is_relative_to(_DATA_DIR) and not path.is_relative_to(_MANIFEST_DIR):
        rel = path.relative_to(_DATA_DIR)
        return _MANIFEST_DIR / rel.parent / f"{rel.name}.json"
    return path.with_name(path.name + ".manifest.json")


def _display_path(path: Path) -> str:
    """The path relative to the repository root if the file lies in it, else its name."""
    resolved = path.resolve()
    if resolved.is_relative_to(_REPO_ROOT):
        return str(resolved.relative_to(_REPO_ROOT))
    return path.name


def regenerate_command(path: str | os.PathLike, generate_args: str, manifest: str | os.PathLike | None = None) -> str:
    """The command that makes the dataset ``path`` again (overwriting it)."""
    cmd = f"{_CLI} generate {generate_args} --out {shlex.quote(str(path))} --force"
    if manifest is not None:
        cmd += f" --manifest {shlex.quote(str(manifest))}"
    return cmd


def _check_writable(path: Path, what: str) -> None:
    """Make the parent folder of ``path`` if needed and try writing a file there."""
    if path.is_dir():
        raise ValueError(f"the {what} {path} is a folder; expected a file path such as data/generated/h.h5")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=".write-test-", suffix=".partial")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"cannot write the {what} {path}: {err.strerror or err}; choose a writable path") from None


@dataclass(frozen=True)
class _Plan:
    """A checked request to make (part of) a dataset."""

    spec: DatasetSpec
    out: Path
    manifest: Path
    manifest_given: bool
    shard: tuple[int, int]
    workers: int
    force: bool
    merge: bool
    keep_chunks: bool
    progress: bool
    reconstruct: Callable
    invocation: str


def _prepare(
    process: str, n_events: int, seed: int, out: str | os.PathLike, *, chunk_size: int,
    mpi: bool, prefilter: bool | None, shard: tuple[int, int], workers: int | None, force: bool,
    manifest: str | os.PathLike | None, merge: bool, keep_chunks: bool, progress: bool,
    reconstruct: Callable | None, invocation: str | None,
) -> _Plan:
    """Check every argument and the output path before anything is generated."""
    spec = DatasetSpec(process, n_events, seed, chunk_size, mpi, prefilter)
    _check_shard(*shard)
    workers = (os.cpu_count() or 1) if workers is None else _check_positive(workers, "workers")
    out = Path(out)
    if out.exists() and not out.is_dir() and not force:
        raise FileExistsError(f"the output {out} exists; pass --force (force=True) to make it again")
    _check_writable(out, "output")
    manifest_path = Path(manifest) if manifest is not None else default_manifest_path(out)
    _check_writable(manifest_path, "manifest")
    if reconstruct is None:
        reconstruct = _default_reconstruct()
    if not callable(reconstruct):
        raise ValueError(f"reconstruct must be a function images.SparseImages -> "
                         f"reconstruction.RecoBatch; got {reconstruct!r}")
    if invocation is None:
        invocation = (f"datasets.generate_dataset({process!r}, {n_events}, {seed}, {str(out)!r}, "
                      f"chunk_size={chunk_size}, shard={shard}) from Python")
    return _Plan(spec, out, manifest_path, manifest is not None, tuple(shard), workers, force,
                 merge, keep_chunks, progress, reconstruct, invocation)


def _execute(plan: _Plan) -> Path | None:
    """Make the plan's missing chunks; merge if all are there (and merging is asked)."""
    spec = plan.spec
    fingerprint = _fingerprint(spec, plan.reconstruct)
    work = work_dir(plan.out)
    work.mkdir(exist_ok=True)
    _check_settings_file(work, spec, fingerprint)
    mine = shard_chunks(spec.n_chunks, *plan.shard)
    todo = [k for k in mine if not _reusable_chunk(work, k, spec, fingerprint)]
    done_events = sum(spec.chunk_events(k) for k in mine if k not in todo)
    label = f"{spec.process} shard {plan.shard[0]}/{plan.shard[1]}" if plan.shard[1] > 1 else spec.process
    progress = _Progress(label, sum(spec.chunk_events(k) for k in mine), done_events, plan.progress)
    if done_events:
        progress.message(f"{len(mine) - len(todo)} chunk(s) already made in {work}, reused")
    jobs = [_ChunkJob(spec, k, _chunk_path(work, k), fingerprint, plan.reconstruct) for k in todo]
    try:
        _run_jobs(jobs, plan.workers, progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished chunks are kept in {work}; run the same command again to "
              f"resume", file=sys.stderr)
        raise
    finally:
        progress.close()
    missing = [k for k in range(spec.n_chunks) if not _chunk_path(work, k).exists()]
    if missing:
        progress.message(f"done; {len(missing)} chunk(s) of {spec.n_chunks} still missing (other "
                         f"shards); when all are made: {_CLI} merge --out {shlex.quote(str(plan.out))}")
        return None
    if not plan.merge:
        progress.message(f"all chunks made; merge with: {_CLI} merge --out {shlex.quote(str(plan.out))}")
        return None
    return _merge(plan.out, plan.manifest, plan.manifest_given, force=True, keep_chunks=plan.keep_chunks,
                  progress=progress, invocation=plan.invocation, auto=True)


def generate_dataset(
    process: str,
    n_events: int,
    seed: int,
    out: str | os.PathLike,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    mpi: bool = COURSE_MPI,
    prefilter: bool | None = COURSE_PREFILTER,
    shard: tuple[int, int] = (1, 1),
    workers: int | None = 1,
    force: bool = False,
    manifest: str | os.PathLike | None = None,
    merge: bool = True,
    keep_chunks: bool = False,
    progress: bool = True,
    reconstruct: Callable | None = None,
    invocation: str | None = None,
) -> Path | None:
    """Make the dataset ``out`` of ``n_events`` selected events of ``process`` (see the module
    docstring for chunks, seeds, shards, resuming and the file layout).

    ``shard=(i, n)`` (1-based) makes only chunks k with k % n == i - 1; ``workers`` runs chunks
    in that many processes, this one and ``workers - 1`` spawned ones (default 1 here; None: all
    cores, the command line's default).
    When every chunk is there the file is
    merged (unless ``merge=False``) and its path returned; otherwise None. ``force`` overwrites
    an existing ``out``. ``manifest``: where the JSON manifest goes (default
    :func:`default_manifest_path`). ``reconstruct``: images.SparseImages -> reconstruction.RecoBatch
    (default ``reconstruction.reconstruct_many``; must be importable by name for ``workers > 1``).
    Bad arguments raise ``ValueError`` / ``FileExistsError`` before anything is generated.
    """
    plan = _prepare(process, n_events, seed, out, chunk_size=chunk_size, mpi=mpi, prefilter=prefilter,
                    shard=shard, workers=workers, force=force, manifest=manifest, merge=merge,
                    keep_chunks=keep_chunks, progress=progress, reconstruct=reconstruct,
                    invocation=invocation)
    return _execute(plan)


# ---------------------------------------------------------------------------------------------
# Merge
# ---------------------------------------------------------------------------------------------


def _final_attrs(spec: DatasetSpec, fp: dict[str, Any], out: Path, table: dict[str, np.ndarray]) -> dict[str, Any]:
    """Root attributes of a dataset file (all from settings and chunk counters: deterministic)."""
    info = generation.process_info(spec.process)
    n_sim, n_tried = int(table["chunks/n_simulated"].sum()), int(table["chunks/n_tried"].sum())
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "dataset",
        "package_version": fp["versions"]["e2e_tutorial"],
        "pythia8mc_version": fp["versions"]["pythia8mc"],
        "numpy_version": fp["versions"]["numpy"], "scipy_version": fp["versions"]["scipy"],
        "h5py_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version,
        "process": spec.process, "process_label": info.label, "process_description": info.description,
        "seed": spec.seed, "n_events": spec.n_events, "chunk_size": spec.chunk_size,
        "n_chunks": spec.n_chunks, "mpi": spec.mpi, "prefilter": spec.prefilter,
        "generator_settings": _json(fp["generator_settings"]),
        "prefilter_settings": _json(fp["prefilter_settings"]),
        "detector_params": _json(fp["detector_params"]),
        "reconstruction": fp["reconstruction"],
        "feature_names": _json(fp["feature_names"]),
        "image_shape": _json(list(images.IMAGE_SHAPE)), "image_channels": _json(list(images.CHANNELS)),
        "image_units": "GeV", "image_hcal": "copy",
        "seed_scheme": "chunk k: SeedSequence([seed, crc32(process), k]).generate_state(2, uint64) -> "
                       "Pythia seed 1 + s0 % 900000000, detector seed s1 >> 1; detector draws "
                       f"batch by batch of {SIMULATION_BATCH} events",
        "simulation_batch": SIMULATION_BATCH,
        "generate_args": spec.generate_args(),
        "command": f"{_CLI} generate {spec.generate_args()} --out {shlex.quote(_display_path(out))}",
        "code_sha256": fp["code_sha256"],
        "fingerprint": _json(fp),
        "n_simulated": n_sim, "n_tried": n_tried,
        "efficiency_per_simulated": spec.n_events / n_sim,
        "efficiency_per_tried": spec.n_events / n_tried,
    }


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _merge_lock(work: Path) -> Iterator[bool]:
    """Yield True if this process holds ``work/merge.lock`` (created exclusively), else False."""
    lock = work / "merge.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        yield False
        return
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        yield True
    finally:
        lock.unlink(missing_ok=True)


def _write_dataset(tmp: Path, spec: DatasetSpec, fp: dict[str, Any], out: Path, work: Path) -> dict[str, Any]:
    """Concatenate the chunks of ``work`` into the new file ``tmp``; return its attributes."""
    heads = []  # chunk attributes, in order; every chunk is checked before anything is written
    for k in range(spec.n_chunks):
        attrs_k, arrays_k = _load_chunk(_chunk_path(work, k), k, spec, fp)
        heads.append(attrs_k | {"nnz": len(arrays_k["image/indices"])})
    table = {key: np.array([h[a] for h in heads], dtype=dt) for key, (a, dt) in _CHUNK_TABLE.items()}
    attrs = _final_attrs(spec, fp, out, table)
    n, nnz = spec.n_events, sum(h["nnz"] for h in heads)
    hashers = {key: hashlib.sha256() for key in _EVENT_KEYS}
    with h5py.File(tmp, "w") as f:
        _write_attrs(f, attrs)
        datasets: dict[str, h5py.Dataset] = {}
        rows = {"image/indices": nnz, "image/values": nnz, "image/offsets": n + 1}
        ev = pix = 0  # events and pixels written so far
        for k in range(spec.n_chunks):
            _, arrays = _load_chunk(_chunk_path(work, k), k, spec, fp)
            # The chunk's offsets shifted by the pixels before it; its leading 0 is the previous
            # chunk's last offset, so it is written only for the first chunk.
            offsets = arrays["image/offsets"] + pix
            arrays["image/offsets"] = offsets if k == 0 else offsets[1:]
            starts = {"image/indices": pix, "image/values": pix, "image/offsets": ev if k == 0 else ev + 1}
            for key in _EVENT_KEYS:
                part = arrays[key]
                if key not in datasets:
                    datasets[key] = _create(f, key, (rows.get(key, n), *part.shape[1:]), part.dtype)
                start = starts.get(key, ev)
                datasets[key][start : start + len(part)] = part
                hashers[key].update(np.ascontiguousarray(part).reshape(-1).view(np.uint8))
            ev += spec.chunk_events(k)
            pix += heads[k]["nnz"]
        for key, arr in table.items():
            _create(f, key, arr.shape, arr.dtype)[...] = arr
        digests = {key: (str(datasets[key].dtype.descr), datasets[key].shape, hashers[key].hexdigest())
                   for key in _EVENT_KEYS} | _digests(table)
        attrs["content_sha256"] = _content_sha256(digests, attrs)
        f.attrs["content_sha256"] = attrs["content_sha256"]
    attrs["_seconds"] = float(sum(h["seconds"] for h in heads))
    return attrs


def _merge(out: Path, manifest: Path, manifest_given: bool, *, force: bool, keep_chunks: bool,
           progress: _Progress, invocation: str, auto: bool) -> Path | None:
    work = work_dir(out)
    if not _settings_path(work).exists():
        raise DatasetError(f"no chunks to merge for {out}: {_settings_path(work)} is missing; "
                           f"make them with `{_CLI} generate ... --out {out}`")
    settings = json.loads(_settings_path(work).read_text())
    spec, fp = DatasetSpec(**settings["spec"]), settings["fingerprint"]
    missing = [k for k in range(spec.n_chunks) if not _chunk_path(work, k).exists()]
    if missing:
        raise DatasetError(
            f"cannot merge {out}: chunk(s) {missing} of {spec.n_chunks} are missing in {work}; make "
            f"them with `{_CLI} generate {spec.generate_args()} --out {out}` (with the --shard that owns them)"
        )
    if out.exists() and not force:
        raise FileExistsError(f"the output {out} exists; pass --force to merge again")
    with _merge_lock(work) as locked:
        if not locked:
            if auto:
                progress.message(f"another process is merging {out} (lock {work / 'merge.lock'})")
                return None
            raise DatasetError(f"{work / 'merge.lock'} exists: another merge is running, or one "
                               f"crashed; if none is running, delete the lock and merge again")
        progress.message(f"merging {spec.n_chunks} chunk(s) into {out}")
        with _atomic(out) as tmp:
            attrs = _write_dataset(tmp, spec, fp, out, work)
            sha = _file_sha256(tmp)
            size = tmp.stat().st_size
        _write_json(manifest, {
            "file": out.name,
            "size_bytes": size,
            "sha256": sha,
            "content_sha256": attrs["content_sha256"],
            "format_version": FORMAT_VERSION,
            "settings": dataclasses.asdict(spec),
            "generate_args": spec.generate_args(),
            "command": regenerate_command(out, spec.generate_args(), manifest if manifest_given else None),
            "versions": fp["versions"] | {"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version},
            "code_sha256": fp["code_sha256"],
            "n_simulated": attrs["n_simulated"],
            "n_tried": attrs["n_tried"],
            "generation_cpu_seconds": round(attrs["_seconds"], 1),
            "made_by": invocation,
        })
    if not keep_chunks:
        shutil.rmtree(work, ignore_errors=True)
    progress.message(f"wrote {out} ({size / 1e6:.2f} MB, sha256 {sha[:16]}...), manifest {manifest}")
    return out


def merge_chunks(
    out: str | os.PathLike,
    *,
    manifest: str | os.PathLike | None = None,
    force: bool = False,
    keep_chunks: bool = False,
    progress: bool = True,
    invocation: str | None = None,
) -> Path:
    """Merge the chunks in ``<out>.chunks`` (all must be there) into ``out`` and write its
    manifest; the work folder is removed unless ``keep_chunks``. Returns ``out``."""
    out = Path(out)
    manifest_path = Path(manifest) if manifest is not None else default_manifest_path(out)
    _check_writable(out, "output")
    _check_writable(manifest_path, "manifest")
    result = _merge(out, manifest_path, manifest is not None, force=force, keep_chunks=keep_chunks,
                    progress=_Progress("merge", 0, 0, progress),
                    invocation=invocation or f"datasets.merge_chunks({str(out)!r}) from Python", auto=False)
    assert result is not None
    return result


# ---------------------------------------------------------------------------------------------
# Verify and read
# ---------------------------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"the manifest {path} is unreadable ({err}); delete it or regenerate "
                           f"the dataset it describes") from None


def _how_to_regenerate(path: Path, attrs: dict[str, Any] | None, manifest: dict[str, Any] | None,
                       manifest_path: Path, manifest_given: bool) -> str:
    args = (attrs or {}).get("generate_args") or (manifest or {}).get("generate_args")
    if args is None:
        return (f"Make it again with `{_CLI} generate ... --out {path} --force` and the settings it was "
                f"made with (no manifest at {manifest_path} records them).")
    cmd = regenerate_command(path, args, manifest_path if manifest_given else None)
    return f"Make it again with:\n  {cmd}"


def _read_dataset(path: str | os.PathLike, manifest: str | os.PathLike | None, verify_checksum: bool
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Attributes and arrays of a dataset file, after every check; DatasetError otherwise."""
    path = Path(path)
    manifest_path = Path(manifest) if manifest is not None else default_manifest_path(path)
    info = _read_manifest(manifest_path)

    def fail(reason: str, attrs: dict[str, Any] | None = None) -> DatasetError:
        how = _how_to_regenerate(path, attrs, info, manifest_path, manifest is not None)
        return DatasetError(f"dataset {path}: {reason}.\n{how}")

    if not path.is_file():
        raise fail("no such file")
    if verify_checksum and info is not None:
        size, sha = path.stat().st_size, _file_sha256(path)
        if size != info.get("size_bytes") or sha != info.get("sha256"):
            raise fail(f"does not match its manifest {manifest_path} (size {size} vs "
                       f"{info.get('size_bytes')} bytes, sha256 {sha[:16]}... vs "
                       f"{str(info.get('sha256'))[:16]}...): truncated, corrupted or replaced")
    try:
        attrs, arrays = _read_h5(path)
    except Exception as err:  # truncated or damaged HDF5: OSError, KeyError, ValueError...
        raise fail(f"cannot be read as HDF5 ({type(err).__name__}: {err}); truncated or corrupted") from None
    problems = _structure_problems(attrs, arrays, "dataset")
    if problems:
        raise fail("is inconsistent: " + "; ".join(problems), attrs)
    return attrs, arrays


def verify_dataset(
    path: str | os.PathLike, *, manifest: str | os.PathLike | None = None, checksum: bool = True
) -> dict[str, Any]:
    """Check a dataset file (manifest checksum if a manifest exists and ``checksum``; structure
    and content hash always); return its attributes, or raise :class:`DatasetError`."""
    attrs, _ = _read_dataset(path, manifest, checksum)
    return attrs


class EventDataset(Dataset):
    """The events of one dataset file as a torch map-style dataset (see :func:`load_dataset`).

    Item i is a float32 tensor: ``features`` (5,), ``image`` (3, 170/k, 360/k) GeV, or
    ``crops`` (6, s, s) GeV (two photon-centred crops, leading photon's channels first);
    with a ``label`` it is the pair (tensor, label as a 0-d int64 tensor). The arrays stay
    available as numpy: ``features``, ``mass``, ``photons``, ``truth``; ``attrs`` holds the
    file's metadata and :meth:`image` the dense image of an event.
    """

    def __init__(self, path: Path, attrs: dict[str, Any], arrays: dict[str, np.ndarray], kind: str,
                 downsample: int, crop_size: int, label: int | None) -> None:
        self.path = path
        self.attrs = attrs
        self.kind = kind
        self.downsample = downsample
        self.crop_size = crop_size
        self.label = label
        self.features = arrays["features"]
        self.mass = arrays["mass"]
        self.photons = arrays["photons"]
        self.truth = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("truth/")}
        self._indices = arrays["image/indices"]
        self._values = arrays["image/values"]
        self._offsets = arrays["image/offsets"]

    @property
    def process(self) -> str:
        return self.attrs["process"]

    @property
    def feature_names(self) -> list[str]:
        return json.loads(self.attrs["feature_names"])

    def __len__(self) -> int:
        return len(self.features)

    def _index(self, i: int) -> int:
        n = len(self)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise IndexError(f"event index {i!r} out of range for {n} events")
        return int(i) % n

    def image(self, i: int) -> np.ndarray:
        """Dense full-resolution (3, 170, 360) float32 image of event i, GeV."""
        i = self._index(i)
        a, b = self._offsets[i], self._offsets[i + 1]
        return images.dense_image(self._indices[a:b], self._values[a:b])

    def crops(self, i: int) -> np.ndarray:
        """(6, s, s) crops around the two selected photons' seed crystals, GeV."""
        i = self._index(i)
        p = self.photons[i]
        centres = [(int(p[j]["ieta"]), int(p[j]["iphi"])) for j in range(2)]
        return images.crop_pair(self.image(i), centres[0], centres[1], self.crop_size)

    def __getitem__(self, i: int):
        i = self._index(i)
        if self.kind == "features":
            x = self.features[i]
        elif self.kind == "image" and self.downsample == 1:
            x = self.image(i)
        elif self.kind == "image":
            a, b = self._offsets[i], self._offsets[i + 1]
            x = images.dense_image_downsampled(self._indices[a:b], self._values[a:b], self.downsample)
        else:
            x = self.crops(i)
        x = torch.from_numpy(np.array(x, dtype=np.float32))
        if self.label is None:
            return x
        return x, torch.tensor(self.label, dtype=torch.int64)


def load_dataset(
    path: str | os.PathLike,
    kind: str = "features",
    *,
    downsample: int = 1,
    crop_size: int = 32,
    n_events: int | None = None,
    label: int | None = None,
    verify_checksum: bool = True,
    manifest: str | os.PathLike | None = None,
) -> EventDataset:
    """A checked dataset file as a torch dataset (:class:`EventDataset`).

    ``kind``: "features" -> (5,) float32 [pT1/m, eta1, pT2/m, eta2, cos dphi]; "image" ->
    (3, 170, 360) float32 GeV, summed over ``downsample`` x ``downsample`` blocks if
    ``downsample`` is 2, 5 or 10; "crops" -> (6, crop_size, crop_size) float32 GeV, crops
    around the leading and the subleading photon (``images.crop_pair``). Images are densified
    from the sparse arrays when an item is read. ``n_events``: keep only the first n.
    ``label``: items become (x, label). The file is checked against its manifest if one exists
    (``verify_checksum=False`` skips that, for speed) and always for structure and content
    hash; a bad file raises :class:`DatasetError` with the command that regenerates it.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if isinstance(downsample, bool) or downsample not in images.DOWNSAMPLE_FACTORS:
        raise ValueError(f"downsample must be one of {images.DOWNSAMPLE_FACTORS}; got {downsample!r}")
    crop_size = _check_positive(crop_size, "crop_size (crystals)")
    if label is not None and (isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0):
        raise ValueError(f"label must be a class index >= 0 or None; got {label!r}")
    attrs, arrays = _read_dataset(path, manifest, verify_checksum)
    if n_events is not None:
        n_events = _check_positive(n_events, "n_events")
        if n_events > attrs["n_events"]:
            raise ValueError(f"n_events={n_events} but {path} holds only {attrs['n_events']} events")
        arrays = _first_events(arrays, n_events)
    return EventDataset(Path(path), attrs, arrays, kind, int(downsample), crop_size,
                        None if label is None else int(label))


def _first_events(arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The arrays of the first n events."""
    out = {k: v[:n] for k, v in arrays.items() if k in _PER_EVENT_KEYS}
    off = arrays["image/offsets"][: n + 1]
    out["image/offsets"] = off
    out["image/indices"] = arrays["image/indices"][: off[-1]]
    out["image/values"] = arrays["image/values"][: off[-1]]
    return out


# ---------------------------------------------------------------------------------------------
# Classification tasks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSplits:
    """Train, validation and test sets of a classification task.

    Each split is a torch ``Subset`` whose items are (x, label); ``labels[name]`` are the
    labels of split ``name`` in item order (numpy int64); ``class_names[c]`` is the process of
    label c (signal first).
    """

    train: Subset
    val: Subset
    test: Subset
    labels: dict[str, np.ndarray]
    class_names: tuple[str, ...]


def classification_task(
    paths: Sequence[str | os.PathLike],
    kind: str = "features",
    *,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    n_per_class: int | None = None,
    **load_options: Any,
) -> TaskSplits:
    """Label the datasets ``paths`` 0, 1, 2, ... in the order given (signal first) and split
    each class at random (``seed``) into train/validation/test ``fractions``, so every split
    keeps the class proportions. ``n_per_class``: use this many events of each class (the
    first ones of each file). ``load_options`` go to :func:`load_dataset`.
    """
    if len(paths) < 2:
        raise ValueError(f"a classification task needs at least 2 datasets; got {len(paths)}")
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be 3 numbers >= 0 summing to 1 (train, val, test); got {fractions}")
    parts = [load_dataset(p, kind, label=c, n_events=n_per_class, **load_options) for c, p in enumerate(paths)]
    rng = np.random.default_rng(seed)
    split_idx: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    split_lab: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    start = 0
    for c, part in enumerate(parts):
        n = len(part)
        order = start + rng.permutation(n)
        n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
        pieces = {"train": order[:n_train], "val": order[n_train : n_train + n_val],
                  "test": order[n_train + n_val :]}
        for name, idx in pieces.items():
            split_idx[name].append(idx)
            split_lab[name].append(np.full(len(idx), c, dtype=np.int64))
        start += n
    whole = ConcatDataset(parts)
    subsets = {name: Subset(whole, np.concatenate(idx).tolist()) for name, idx in split_idx.items()}
    labels = {name: np.concatenate(lab) for name, lab in split_lab.items()}
    return TaskSplits(subsets["train"], subsets["val"], subsets["test"], labels,
                      tuple(p.process for p in parts))


def binary_task(
    signal_path: str | os.PathLike,
    background_path: str | os.PathLike,
    kind: str = "features",
    **options: Any,
) -> TaskSplits:
    """Signal against one background, split into train/validation/test (see
    :func:`classification_task` for ``fractions``, ``seed``, ``n_per_class`` and the options).

    Label convention (signal first, as the seminar and :mod:`e2e_tutorial.metrics`):
    **label 0 = signal** (e.g. H -> gamma gamma), **label 1 = background**. Items are
    (x, label) with label a 0-d int64 tensor, ready for ``cross_entropy`` with column 0 = signal.
    """
    return classification_task([signal_path, background_path], kind, **options)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# The course's own datasets
# ---------------------------------------------------------------------------------------------


def course_path(process: str, cfg: config.Settings | None = None) -> Path:
    """The course's dataset of ``process`` in the mode of ``cfg`` (default: the current mode).

    Fast mode reads the small committed samples (``data/samples/<process>.h5``, made by
    ``make samples``), full mode the datasets ``make data`` generates
    (``data/generated/<process>.h5``). Both hold ``cfg.events_per_process`` selected events
    made with ``cfg.seed``, :data:`COURSE_MPI` and :data:`COURSE_PREFILTER`; the sample is the
    first chunks of the full dataset.
    """
    generation.process_info(process)  # ValueError listing the valid names
    cfg = config.current() if cfg is None else cfg
    folder = SAMPLES_DIR if cfg.fast else GENERATED_DIR
    return folder / f"{process}.h5"


def make_course_data(cfg: config.Settings | None = None, *, processes: Sequence[str] = PROCESSES,
                     workers: int | None = None, force: bool = False, progress: bool = True) -> list[Path]:
    """Generate the course's datasets of the mode of ``cfg`` that are missing (all with ``force``).

    Existing files are verified against their manifests, so a damaged one stops here with the
    command that remakes it. ``workers=None`` uses every core.
    """
    cfg = config.current() if cfg is None else cfg
    paths = []
    for process in processes:
        out = course_path(process, cfg)
        if out.exists() and not force:
            verify_dataset(out)
            if progress:
                print(f"{_display_path(out)}: present and verified")
        else:
            generate_dataset(process, cfg.events_per_process, cfg.seed, out, workers=workers,
                             force=force, progress=progress)
        paths.append(out)
    return paths


def load_course_dataset(process: str, kind: str = "features", cfg: config.Settings | None = None,
                        **options: Any) -> "EventDataset":
    """:func:`load_dataset` of the course's dataset of ``process`` (see :func:`course_path`).

    A missing file raises ``FileNotFoundError`` saying which ``make`` target makes it.
    """
    cfg = config.current() if cfg is None else cfg
    path = course_path(process, cfg)
    if not path.exists():
        target = "make samples" if cfg.fast else "make data"
        raise FileNotFoundError(f"{_display_path(path)} does not exist: run `{target}` in the repository "
                                f"root to make the course's {cfg.mode}-mode datasets")
    return load_dataset(path, kind, **options)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def _seed_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**63); got {text!r}")
    return value


def _shard_arg(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
        _check_shard(i, n)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be i/n with 1 <= i <= n (shards are 1-based), e.g. 1/4; got {text!r}") from None
    return i, n


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_CLI, description="Make, merge and verify the course's datasets.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="make a dataset (or one shard of it)")
    gen.add_argument("--process", required=True, choices=PROCESSES, help="h, gg or gj")
    gen.add_argument("--events", required=True, type=_positive_int, help="selected events")
    seed = config.current().seed
    gen.add_argument("--seed", type=_seed_arg, default=seed, help=f"master seed (default {seed}, config.seed)")
    gen.add_argument("--out", required=True, type=Path, help="output HDF5 file")
    gen.add_argument("--chunk-size", type=_positive_int, default=DEFAULT_CHUNK_SIZE,
                     help=f"selected events per chunk (default {DEFAULT_CHUNK_SIZE})")
    gen.add_argument("--mpi", action=argparse.BooleanOptionalAction, default=COURSE_MPI,
                     help=f"multi-parton interactions (default {'on' if COURSE_MPI else 'off'})")
    gen.add_argument("--prefilter", action=argparse.BooleanOptionalAction, default=COURSE_PREFILTER,
                     help="generator-level pre-filter (default on; --no-prefilter: none; the API's "
                          "None: on for gj only, as in the study)")
    gen.add_argument("--shard", type=_shard_arg, default=(1, 1),
                     help="make only shard i of n (1-based): chunks k with k %% n == i - 1")
    gen.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                     help="parallel processes (default: all cores)")
    gen.add_argument("--manifest", type=Path, help="manifest path (default: see module docs)")
    gen.add_argument("--force", action="store_true", help="overwrite an existing output")
    gen.add_argument("--no-merge", dest="merge", action="store_false",
                     help="do not merge even if all chunks are there")
    gen.add_argument("--keep-chunks", action="store_true", help="keep the work folder after merging")
    gen.add_argument("--quiet", action="store_true", help="no progress output")

    mer = sub.add_parser("merge", help="merge the chunks of <out>.chunks into <out>")
    mer.add_argument("--out", required=True, type=Path)
    mer.add_argument("--manifest", type=Path)
    mer.add_argument("--force", action="store_true")
    mer.add_argument("--keep-chunks", action="store_true")
    mer.add_argument("--quiet", action="store_true")

    crs = sub.add_parser("course", help="make the course's missing datasets for the current mode "
                                        "(E2E_FAST=1: the committed samples; else the full datasets)")
    crs.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                     help="parallel processes (default: all cores)")
    crs.add_argument("--force", action="store_true", help="remake them even if present")
    crs.add_argument("--quiet", action="store_true", help="no progress output")

    ver = sub.add_parser("verify", help="check a dataset against its manifest and itself")
    ver.add_argument("path", type=Path)
    ver.add_argument("--manifest", type=Path)
    ver.add_argument("--no-checksum", dest="checksum", action="store_false",
                     help="skip the file checksum (structure and content hash are still checked)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2: bad arguments, 1: bad data)."""
    parser = _parser()
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else list(argv)
    invocation = " ".join([_CLI, *(shlex.quote(str(a)) for a in given)])
    try:
        if args.command == "generate":
            try:
                plan = _prepare(args.process, args.events, args.seed, args.out, chunk_size=args.chunk_size,
                                mpi=args.mpi, prefilter=args.prefilter, shard=args.shard,
                                workers=args.workers, force=args.force, manifest=args.manifest,
                                merge=args.merge, keep_chunks=args.keep_chunks,
                                progress=not args.quiet, reconstruct=None, invocation=invocation)
            except (ValueError, FileExistsError) as err:
                parser.error(str(err))
            _execute(plan)
        elif args.command == "merge":
            try:
                merge_chunks(args.out, manifest=args.manifest, force=args.force,
                             keep_chunks=args.keep_chunks, progress=not args.quiet, invocation=invocation)
            except (ValueError, FileExistsError) as err:
                parser.error(str(err))
        elif args.command == "course":
            make_course_data(workers=args.workers, force=args.force, progress=not args.quiet)
        else:
            attrs = verify_dataset(args.path, manifest=args.manifest, checksum=args.checksum)
            print(f"{args.path}: OK ({attrs['n_events']} {attrs['process']} events, seed {attrs['seed']}, "
                  f"content {attrs['content_sha256'][:16]}...)")
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
