"""Speed of the event pipeline: Pythia against what the course does with each event, the
dataset generator's use of two cores, and the time of the full-mode datasets.
Results and commands: benchmarks/README.md, section "Event pipeline".

    .venv/bin/python benchmarks/bench_pipeline.py chain --baseline c3ef583  # ratios, old vs new
    .venv/bin/python benchmarks/bench_pipeline.py profile gj off            # cProfile, top functions
    .venv/bin/python benchmarks/bench_pipeline.py parallel --events 3000 --chunk-size 100
    .venv/bin/python benchmarks/bench_pipeline.py codespeed --process gj   # a dataset, old vs new code
    .venv/bin/python benchmarks/bench_pipeline.py estimate --events 6000   # the full-mode datasets
    .venv/bin/python benchmarks/bench_pipeline.py log /tmp/make_data.log    # a `course` run's log

``chain`` runs Pythia with the settings of ``generation.generate_with_truth(..., prefilter=
datasets.COURSE_PREFILTER)`` and times, event by event: ``pythia.next()`` (Pythia's own time,
including the stage-1 veto hook of the pre-filter for gg and gj); the conversion of the event
record to a numpy array (``generation._read_kinematics`` for every event, ``_complete`` for
the events the pre-filter keeps; old code: ``_final_state``); the stage-2 pre-filter
(``generation.em_enriched``); and for the events it keeps ``detector.simulate``,
``images.event_image`` and ``reconstruction.reconstruct_event`` one event at a time, and (as the
dataset generator does) ``detector.simulate_many``, ``images.sparse_images`` and
``reconstruction.reconstruct_many`` on each ``datasets.SIMULATION_BATCH`` kept events, every
event getting an equal share of its batch's time; each batched image and reconstruction is
checked equal to the one-event functions' on the same detector response. The ratio the issue
asks for is (detector + image + reconstruction) / Pythia, per generated event (what the chain
adds to Pythia's time in a filtered run) and per event that goes through the chain. Ratios are
computed in 10 blocks of events and reported as the median over blocks with quartiles.
``--no-prefilter`` sends every event through the chain.

``--baseline REV`` loads the four modules (generation, detector, images, reconstruction) as
they were at git revision REV under private module names, runs them on the same events, in
alternating order with the current ones, and checks that every output is identical bit for bit
(particle arrays, filter decisions, detector responses from the same random seed, images,
photon candidates, selection, features): an optimisation must not change a single number.

``parallel`` times ``datasets.generate_dataset(..., workers=1)`` and ``workers=2`` on the same
dataset (in a temporary folder, never data/), alternating which goes first, waits before each
run until no other process uses the CPU (``--quiet``, ``--max-wait``), and prints the CPU
that other processes used during the run (from /proc/stat): the machine may be shared.
``codespeed`` makes the same dataset with the code of ``--baseline`` (extracted with ``git
archive`` into a temporary folder) and with the current code, one worker each, alternately,
and compares the arrays. ``estimate`` makes each process's dataset with 2 workers and
extrapolates to ``config.FULL.events_per_process`` (with ``--events 6000`` it is the full-mode
run itself; ``--compare-with data/generated`` checks the arrays against existing datasets,
read-only). ``log`` reads the progress lines of ``python -m e2e_tutorial.datasets course``.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib.util
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pythia8mc

from e2e_tutorial import config, datasets, detector, images, reconstruction
from e2e_tutorial import generation as g

REPO = Path(__file__).resolve().parents[1]
MODULES = ("generation", "detector", "images", "reconstruction")
STAGES = ("pythia", "convert", "filter", "detector", "image", "reco")
CHAIN = ("detector", "image", "reco")
#: The chain of the dataset generator: SIMULATION_BATCH events at a time (current code only).
BATCH_CHAIN = ("batch_detector", "batch_image", "batch_reco")
KINEMATIC_FIELDS = ("pdg_id", "px", "py", "pz", "e")  # what the pre-filter reads


# ---------------------------------------------------------------------------------------------
# The current code and (optionally) a baseline revision
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Code:
    """The pipeline's functions from one version of the code. ``read`` turns Pythia's event
    record into what ``kinematics`` hands to the pre-filter; ``complete`` makes the particle
    array of an event the pre-filter keeps (the current code reads the event record in these
    two steps; older code read it whole, and then ``kinematics`` and ``complete`` are no-ops)."""

    label: str
    read: object
    kinematics: object
    complete: object
    em_enriched: object
    simulate: object
    event_image: object
    reconstruct_event: object


def _identity(x):
    return x


def _code(label: str, gen, det, img, reco) -> Code:
    if hasattr(gen, "_read_kinematics"):
        read, kin, complete = gen._read_kinematics, (lambda r: r.kinematics), gen._complete
    else:
        read, kin, complete = gen._final_state, _identity, _identity
    return Code(label, read, kin, complete, gen.em_enriched, det.simulate, img.event_image,
                reco.reconstruct_event)


CURRENT = _code("current", g, detector, images, reconstruction)


def load_baseline(rev: str) -> Code:
    """The four modules as of git revision ``rev``, imported under private names."""
    folder = Path(tempfile.mkdtemp(prefix="bench_pipeline_baseline_"))
    mods = {}
    for name in MODULES:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:e2e_tutorial/{name}.py"],
                                check=True, capture_output=True, text=True).stdout
        path = folder / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(f"_baseline_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    shutil.rmtree(folder, ignore_errors=True)
    return _code(f"baseline {rev}", *(mods[m] for m in MODULES))


def _same_response(a, b) -> bool:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if x.size == 0 and y.size == 0:  # code before 2026-12 gave int64 for an empty HCAL
            continue
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            return False
    return True


def _same_reco(a, b) -> bool:
    if a.photons.tobytes() != b.photons.tobytes() or a.pair != b.pair or a.mass != b.mass:
        return False
    if a.features is None or b.features is None:
        return a.features is None and b.features is None
    return a.features.tobytes() == b.features.tobytes()


# ---------------------------------------------------------------------------------------------
# chain: Pythia vs conversion, filter, detector, image, reconstruction
# ---------------------------------------------------------------------------------------------


def _pythia(process: str, seed: int, mpi: bool, prefilter: bool):
    """A Pythia instance set up as generation.generate_with_truth sets it up."""
    info = g.process_info(process)
    pythia = pythia8mc.Pythia("", False)
    hook = g._HardProcessVeto(g.HARD_ETA_MAX, g.HARD_MASS_MIN) if prefilter and info.hard_cut else None
    for setting in [*g._common_settings(seed, mpi), *info.settings]:
        if not pythia.readString(setting):
            raise RuntimeError(setting)
    if hook is not None:
        pythia.setUserHooksPtr(hook)
    if not pythia.init():
        raise RuntimeError("Pythia init failed")
    return pythia, hook


def run_chain(process: str, mpi: bool, n_events: int, codes: list[Code], *, seed: int = 11,
              prefilter: bool = datasets.COURSE_PREFILTER, warmup: int = 20) -> dict:
    """Per-event times (seconds) of every stage for every version of the code in ``codes``
    (run in alternating order on the same events), and the number of events checked equal."""
    pythia, hook = _pythia(process, seed, mpi, prefilter)
    rngs = [np.random.default_rng(seed) for _ in codes]
    pc = time.perf_counter
    times = {c.label: {s: [] for s in STAGES} for c in codes}
    kept_flags = []
    n_gen = n_checked = 0
    batch = datasets.SIMULATION_BATCH
    batch_rng = np.random.default_rng(seed + 1)
    for stage in BATCH_CHAIN:
        times[CURRENT.label][stage] = []
    pending: list[np.ndarray] = []  # kept events (recorded ones) waiting for the batched chain
    n_batch_checked = 0
    while n_gen < n_events + warmup or pending:
        t0 = pc()
        ok = pythia.next()
        t_pythia = pc() - t0
        if not ok:
            continue
        n_gen += 1
        record = n_gen > warmup  # the first events warm caches (particle data, allocator)
        order = list(range(len(codes))) if n_gen % 2 else list(reversed(range(len(codes))))
        parts, keep, kin = {}, {}, {}
        for i in order:
            c = codes[i]
            t0 = pc()
            state = c.read(pythia.event)
            t1 = pc()
            kin[i] = c.kinematics(state)
            keep[i] = c.em_enriched(kin[i]) if prefilter else True
            t2 = pc()
            parts[i] = c.complete(state) if keep[i] else None
            t3 = pc()
            if record:
                times[c.label]["pythia"].append(t_pythia)
                times[c.label]["convert"].append(t1 - t0 + t3 - t2)
                times[c.label]["filter"].append(t2 - t1)
        if len(codes) > 1:
            same = all(keep[i] == keep[0] for i in keep) and all(
                kin[i][f].tobytes() == kin[0][f].tobytes() for i in kin for f in KINEMATIC_FIELDS)
            if keep[0]:
                same = same and all(parts[i].tobytes() == parts[0].tobytes()
                                    and parts[i].dtype == parts[0].dtype for i in parts)
            assert same, f"{process}: the versions disagree on event {n_gen} (particles or filter)"
        if record:
            kept_flags.append(bool(keep[0]))
        if not keep[0]:
            continue
        out = {}
        for i in order:
            c = codes[i]
            t0 = pc()
            response = c.simulate(parts[i], rngs[i])
            t1 = pc()
            image = c.event_image(response)
            t2 = pc()
            reco = c.reconstruct_event(image)
            t3 = pc()
            out[i] = (response, image, reco)
            if record:
                for stage, dt in zip(CHAIN, (t1 - t0, t2 - t1, t3 - t2)):
                    times[c.label][stage].append(dt)
        if len(codes) > 1:
            r0, im0, re0 = out[0]
            for i in out:
                r, im, re_ = out[i]
                assert _same_response(r, r0), f"{process}: detector responses differ (event {n_gen})"
                assert im.dtype == im0.dtype and im.tobytes() == im0.tobytes(), \
                    f"{process}: images differ (event {n_gen})"
                assert _same_reco(re_, re0), f"{process}: reconstructions differ (event {n_gen})"
            n_checked += 1
        if record:
            pending.append(parts[codes.index(CURRENT)])
        if len(pending) == batch:
            n_batch_checked += _time_batch(pending, batch_rng, times[CURRENT.label])
            pending = []
    del hook
    return {"times": {k: {s: np.array(v) for s, v in d.items()} for k, d in times.items()},
            "kept": np.array(kept_flags), "checked": n_checked, "batch_checked": n_batch_checked}


def _time_batch(events: list[np.ndarray], rng: np.random.Generator, times: dict) -> int:
    """Time the dataset generator's chain on one batch (detector.simulate_many,
    images.sparse_images, reconstruction.reconstruct_many), giving each event an equal share,
    and check event by event that the images and reconstructions are those of the one-event
    functions on the same responses. Returns the number of events checked."""
    pc = time.perf_counter
    t0 = pc()
    responses = detector.simulate_many(events, rng)
    t1 = pc()
    sparse = images.sparse_images(responses)
    t2 = pc()
    batch = reconstruction.reconstruct_many(sparse)
    t3 = pc()
    for stage, dt in zip(BATCH_CHAIN, (t1 - t0, t2 - t1, t3 - t2)):
        times[stage].extend([dt / len(events)] * len(events))
    for k, response in enumerate(responses):
        image = images.event_image(response)
        idx, val = sparse.event(k)
        assert np.array_equal(idx, np.flatnonzero(image)) and np.array_equal(val, image.reshape(-1)[idx]), \
            f"batched image {k} differs from images.event_image"
        assert _same_reco(batch.event(k), reconstruction.reconstruct_event(image)), \
            f"batched reconstruction of event {k} differs from reconstruct_event"
    return len(events)


def _block_ratios(t: dict, kept: np.ndarray, n_blocks: int, stages: tuple[str, ...] = CHAIN
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Chain / Pythia per block of generated events: per generated event, per chained event."""
    chain = sum(t[s] for s in stages)  # one entry per kept event
    kept_idx = np.cumsum(kept) - 1
    per_gen, per_chain = [], []
    for block in np.array_split(np.arange(kept.size), n_blocks):
        k = kept[block]
        if not k.any():
            continue
        c = chain[kept_idx[block][k]]
        p = t["pythia"][block]
        per_gen.append(c.sum() / p.sum())
        per_chain.append(c.mean() / p.mean())
    return np.array(per_gen), np.array(per_chain)


def _q(a: np.ndarray) -> str:
    q1, q2, q3 = np.percentile(a, [25, 50, 75])
    return f"{q2:.2f} ({q1:.2f}-{q3:.2f})"


def chain_command(args) -> None:
    codes = [CURRENT]
    if args.baseline:
        codes.append(load_baseline(args.baseline))
    print(f"load average before: {os.getloadavg()[0]:.2f}; prefilter={args.prefilter}; "
          f"{args.events} generated events (MPI off), {args.events_mpi} (MPI on) per process")
    rows = []
    for mpi in [m == "on" for m in args.mpi]:
        for process in args.processes:
            n = args.events_mpi if mpi else args.events
            res = run_chain(process, mpi, n, codes, seed=args.seed, prefilter=args.prefilter)
            kept = res["kept"]
            for c in codes:
                t = res["times"][c.label]
                ms = {s: 1e3 * t[s].mean() for s in ("pythia", "convert", "filter")}
                for s in CHAIN + BATCH_CHAIN:
                    ms[s] = 1e3 * t[s].mean() if s in t and t[s].size else float("nan")
                per_gen, per_chain = _block_ratios(t, kept, args.blocks)
                batched = _block_ratios(t, kept, args.blocks, BATCH_CHAIN) if c is CURRENT else None
                chain_total = sum(t[s].sum() for s in CHAIN)
                python = t["convert"].sum() + t["filter"].sum() + chain_total
                ms["all/pythia"] = python / t["pythia"].sum()
                rows.append((process, "on" if mpi else "off", c.label, int(kept.size),
                             float(kept.mean()), ms, per_gen, per_chain, batched))
            print(f"  {process} MPI {'on' if mpi else 'off'}: {kept.size} events; "
                  f"{res['batch_checked']} through the batched chain, every image and "
                  "reconstruction identical to the one-event functions'", flush=True)
            if len(codes) > 1:
                print(f"  {process} MPI {'on' if mpi else 'off'}: {kept.size} events, "
                      f"{res['checked']} through the chain: every output identical to {codes[1].label}",
                      flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print("Mean ms per generated event (Pythia, conversion, filter) and per chained event (detector, "
          "image, reco: one event at a time; batched: datasets.SIMULATION_BATCH = "
          f"{datasets.SIMULATION_BATCH} at a time);\nchain/Pythia = (detector + image + reco) / "
          f"pythia.next(), median over {args.blocks} blocks (quartiles); all/Pythia = (conversion + "
          "filter + one-event chain) / Pythia, per generated event.\n")
    print("| process | MPI | code | events | kept | Pythia | convert | filter | detector | image | reco "
          "| chain/Pythia per generated event | per chained event | all/Pythia "
          "| batched detector | image | reco | batched chain/Pythia per generated event | per chained event |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|---|")
    for process, mpi, label, n, frac, ms, per_gen, per_chain, batched in rows:
        line = (f"| {process} | {mpi} | {label} | {n} | {100 * frac:.0f} % | {ms['pythia']:.3f} | "
                f"{ms['convert']:.3f} | {ms['filter']:.3f} | {ms['detector']:.3f} | {ms['image']:.3f} | "
                f"{ms['reco']:.3f} | {_q(per_gen)} | {_q(per_chain)} | {ms['all/pythia']:.2f} |")
        if batched is not None:
            line += (f" {ms['batch_detector']:.3f} | {ms['batch_image']:.3f} | {ms['batch_reco']:.3f} | "
                     f"{_q(batched[0])} | {_q(batched[1])} |")
        else:
            line += " | | | | |"
        print(line)
    if len(codes) > 1:
        print("\nSpeed-up current vs baseline (baseline time / current time, same events):")
        by = {(r[0], r[1], r[2]): r for r in rows}
        for process, mpi, label, *_ in rows:
            if label != CURRENT.label:
                continue
            new, old = by[(process, mpi, CURRENT.label)][5], by[(process, mpi, codes[1].label)][5]
            parts = ", ".join(f"{s} {old[s] / new[s]:.2f}x" for s in ("convert", "filter", *CHAIN))
            print(f"  {process} MPI {mpi}: {parts}")


def profile_command(args) -> None:
    """cProfile of generation (with the course's pre-filter) and the dataset generator's chain
    on the kept events, datasets.SIMULATION_BATCH at a time."""
    mpi = args.mpi == "on"
    rng = np.random.default_rng(1)
    prof = cProfile.Profile()
    prof.enable()
    batch = []
    for particles, _ in g.generate_with_truth(args.process, args.events, 11, mpi=mpi,
                                              prefilter=datasets.COURSE_PREFILTER):
        batch.append(particles)
        if len(batch) == datasets.SIMULATION_BATCH:
            reconstruction.reconstruct_many(images.sparse_images(detector.simulate_many(batch, rng)))
            batch = []
    prof.disable()
    pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)


# ---------------------------------------------------------------------------------------------
# parallel: workers=1 vs workers=2; estimate: full-mode datasets
# ---------------------------------------------------------------------------------------------


def _busy_cpu_seconds() -> float:
    """CPU seconds all processes of the machine have used so far (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the spawned workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _wait_for_quiet(max_load: float, max_wait: float) -> float:
    """Wait until nothing else runs (1-second samples of /proc/stat) or ``max_wait`` seconds
    pass; return the CPU load of other processes in the last sample (cores)."""
    t_end = time.monotonic() + max_wait
    while True:
        b0, o0 = _busy_cpu_seconds(), _own_cpu_seconds()
        time.sleep(1.0)
        other = (_busy_cpu_seconds() - b0) - (_own_cpu_seconds() - o0)
        if other <= max_load or time.monotonic() > t_end:
            return other


def _timed_dataset(process: str, n: int, chunk: int, workers: int, folder: Path, tag: str,
                   seed: int) -> tuple[float, float, Path]:
    """Wall time of generate_dataset, and the CPU (cores, averaged over the run) that other
    processes of the machine used meanwhile."""
    out = folder / f"{process}_{tag}.h5"
    b0, o0 = _busy_cpu_seconds(), _own_cpu_seconds()
    t0 = time.perf_counter()
    datasets.generate_dataset(process, n, seed, out, chunk_size=chunk, workers=workers,
                              progress=False, manifest=folder / f"{process}_{tag}.json")
    dt = time.perf_counter() - t0
    other = (_busy_cpu_seconds() - b0) - (_own_cpu_seconds() - o0)
    return dt, max(other, 0.0) / dt, out


def _content(path: Path) -> dict[str, bytes]:
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()].tobytes())
                     if isinstance(obj, h5py.Dataset) else None)
    return arrays


def parallel_command(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    print(f"{args.events} selected {args.process} events, chunks of {args.chunk_size}, seed "
          f"{args.seed}, into {folder}; {os.cpu_count()} cores. 'other' = CPU cores used by other "
          "processes during the run (from /proc/stat, minus this process and its workers)")
    t = {1: [], 2: []}
    try:
        for rep in range(args.reps):
            for w in ((1, 2) if rep % 2 == 0 else (2, 1)):
                before = _wait_for_quiet(args.quiet, args.max_wait)
                dt, other, out = _timed_dataset(args.process, args.events, args.chunk_size, w,
                                                folder, f"w{w}_r{rep}", args.seed)
                t[w].append(dt)
                print(f"  rep {rep} workers={w}: {dt:6.2f} s  (other processes: {before:.2f} cores "
                      f"just before, {other:.2f} during; load average {os.getloadavg()[0]:.2f})",
                      flush=True)
            same = _content(folder / f"{args.process}_w1_r{rep}.h5") == _content(
                folder / f"{args.process}_w2_r{rep}.h5")
            print(f"  rep {rep}: speed-up {t[1][-1] / t[2][-1]:.2f}; same arrays: {same}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratios = [a / b for a, b in zip(t[1], t[2])]
    print(f"median workers=1 {statistics.median(t[1]):.2f} s, "
          f"workers=2 {statistics.median(t[2]):.2f} s; "
          f"speed-up per repetition {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.2f}")


def estimate_command(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    total = 0.0
    full = config.FULL.events_per_process
    print(f"selected events/s with workers={args.workers}, {args.events} events per process in chunks "
          f"of {args.chunk_size} (seed {config.FULL.seed}); extrapolated to {full} per process")
    try:
        for process in args.processes:
            before = _wait_for_quiet(args.quiet, args.max_wait)
            dt, other, out = _timed_dataset(process, args.events, args.chunk_size, args.workers,
                                            folder, "estimate", config.FULL.seed)
            rate = args.events / dt
            total += full / rate
            print(f"  {process}: {dt:6.1f} s, {rate:6.1f} selected events/s -> "
                  f"{full / rate / 60:5.1f} min for {full} (other processes: {before:.2f} cores "
                  f"before, {other:.2f} during)", flush=True)
            if args.compare_with:  # e.g. the datasets made by `make data` with other code
                ref = Path(args.compare_with) / f"{process}.h5"
                mine, theirs = _content(out), _content(ref)
                same = mine.keys() == theirs.keys() and all(mine[k] == theirs[k] for k in mine)
                print(f"    arrays identical to {ref}: {same}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"estimated full-mode datasets: {total / 60:.1f} min (budget: 15 min)")


_RUN_DATASET = """
import sys, time
package = sys.argv[1]
if package:  # import e2e_tutorial from there, not from the editable install of the repository
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
    sys.path.insert(0, package)
from e2e_tutorial import datasets
process, n, seed, out, chunk = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], \
    int(sys.argv[6])
t0 = time.perf_counter()
datasets.generate_dataset(process, n, seed, out, chunk_size=chunk, workers=1, progress=False,
                          manifest=out + ".json")
print(time.perf_counter() - t0, datasets.__file__)
"""


def codespeed_command(args) -> None:
    """The same dataset made by the code of revision ``--baseline`` and by the current code,
    one worker each, alternately; the arrays must be identical."""
    folder = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    try:
        old = folder / "baseline"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline, "e2e_tutorial"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        print(f"{args.events} selected {args.process} events, chunks of {args.chunk_size}, seed "
              f"{args.seed}, workers=1: code of {args.baseline} vs current, alternately")
        t = {"baseline": [], "current": []}
        for rep in range(args.reps):
            for label in (("baseline", "current") if rep % 2 == 0 else ("current", "baseline")):
                before = _wait_for_quiet(args.quiet, args.max_wait)
                out = folder / f"{label}_{rep}.h5"
                b0, o0 = _busy_cpu_seconds(), _own_cpu_seconds()
                t0 = time.perf_counter()
                res = subprocess.run(
                    [sys.executable, "-c", _RUN_DATASET, str(old) if label == "baseline" else "",
                     args.process, str(args.events), str(args.seed), str(out), str(args.chunk_size)],
                    check=True, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                other = max((_busy_cpu_seconds() - b0) - (_own_cpu_seconds() - o0), 0.0) / wall
                seconds, source = res.stdout.split()
                t[label].append(float(seconds))
                print(f"  rep {rep} {label:8s}: {float(seconds):7.2f} s in generate_dataset "
                      f"({source}; other processes {before:.2f} cores before, {other:.2f} during)",
                      flush=True)
            same = _content(folder / f"baseline_{rep}.h5") == _content(folder / f"current_{rep}.h5")
            speedup = t["baseline"][-1] / t["current"][-1]
            print(f"  rep {rep}: speed-up {speedup:.2f}; same arrays: {same}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratios = [a / b for a, b in zip(t["baseline"], t["current"])]
    print(f"median baseline {statistics.median(t['baseline']):.2f} s, current "
          f"{statistics.median(t['current']):.2f} s; speed-up {statistics.median(ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in ratios)})")


_LINE = re.compile(r"\[(\w+)\] chunk \d+ done: (\d+)/(\d+) events, ([\d.]+) selected events/s")


def log_command(args) -> None:
    """Rates and durations per process from the progress lines of a `course` run (1 line per
    chunk: done/total events and the running rate since that process started)."""
    last = {}
    for line in Path(args.path).read_text().splitlines():
        m = _LINE.search(line)
        if m:
            last[m.group(1)] = (int(m.group(2)), int(m.group(3)), float(m.group(4)))
    total = 0.0
    for process, (done, n, rate) in last.items():
        seconds = done / rate
        total += seconds if done == n else n / rate
        state = "done" if done == n else f"{done}/{n} so far, projected"
        print(f"  {process}: {rate:.2f} selected events/s, {seconds / 60:.1f} min for {done} "
              f"events ({state}: "
              f"{n / rate / 60:.1f} min for {n})")
    print(f"total (projected where unfinished): {total / 60:.1f} min")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("chain", help="per-event times and chain/Pythia ratios")
    p.add_argument("--processes", nargs="+", default=list(g.PROCESSES), choices=list(g.PROCESSES))
    p.add_argument("--mpi", nargs="+", default=["off", "on"], choices=["off", "on"])
    p.add_argument("--events", type=int, default=600, help="generated events per process, MPI off")
    p.add_argument("--events-mpi", type=int, default=200, help="generated events per process, MPI on")
    p.add_argument("--blocks", type=int, default=10)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--baseline", help="git revision to compare with (e.g. c3ef583)")
    p.add_argument("--no-prefilter", dest="prefilter", action="store_false",
                   help="every event through the chain (default: datasets.COURSE_PREFILTER)")
    p.set_defaults(func=chain_command, prefilter=datasets.COURSE_PREFILTER)
    p = sub.add_parser("profile", help="cProfile of generation + chain")
    p.add_argument("process", choices=list(g.PROCESSES))
    p.add_argument("mpi", choices=["off", "on"])
    p.add_argument("--events", type=int, default=300, help="kept events")
    p.add_argument("--sort", default="tottime")
    p.add_argument("--top", type=int, default=30)
    p.set_defaults(func=profile_command)
    p = sub.add_parser("parallel", help="generate_dataset with workers=1 vs 2")
    p.add_argument("--process", default="h", choices=list(g.PROCESSES))
    p.add_argument("--events", type=int, default=300)
    p.add_argument("--chunk-size", type=int, default=50)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--quiet", type=float, default=0.2,
                   help="wait before each run until other processes use at most this many cores")
    p.add_argument("--max-wait", type=float, default=120.0, help="... or this many seconds")
    p.set_defaults(func=parallel_command)
    p = sub.add_parser("estimate", help="full-mode dataset time from measured rates")
    p.add_argument("--processes", nargs="+", default=list(g.PROCESSES), choices=list(g.PROCESSES))
    p.add_argument("--events", type=int, default=400, help="selected events measured per process")
    p.add_argument("--chunk-size", type=int, default=datasets.DEFAULT_CHUNK_SIZE)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", type=float, default=0.2)
    p.add_argument("--max-wait", type=float, default=120.0)
    p.add_argument("--compare-with", help="folder of datasets to compare with (read only), "
                   "e.g. data/generated; needs --events equal to theirs")
    p.set_defaults(func=estimate_command)
    p = sub.add_parser("codespeed", help="a dataset made by old and by current code, 1 worker")
    p.add_argument("--baseline", default="c3ef583", help="git revision of the old code")
    p.add_argument("--process", default="gj", choices=list(g.PROCESSES))
    p.add_argument("--events", type=int, default=300)
    p.add_argument("--chunk-size", type=int, default=datasets.DEFAULT_CHUNK_SIZE)
    p.add_argument("--seed", type=int, default=config.FULL.seed)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--quiet", type=float, default=0.2)
    p.add_argument("--max-wait", type=float, default=120.0)
    p.set_defaults(func=codespeed_command)
    p = sub.add_parser("log", help="rates from the log of `python -m e2e_tutorial.datasets course`")
    p.add_argument("path")
    p.set_defaults(func=log_command)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
