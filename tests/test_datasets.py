"""Tests of e2e_tutorial.datasets: deterministic chunked generation (one job,
shards, workers, resuming), detection of damaged files, argument checks, loading and tasks.

Every dataset here is tiny (a few events, chunks of 3-4, Pythia without multi-parton
interactions) and uses the course's real chain, reconstruction included.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from e2e_tutorial import chunks
from e2e_tutorial import datasets as d
from e2e_tutorial import detector, generation, images, reconstruction

N, SEED, CHUNK = 10, 7, 4  # 3 chunks: 4 + 4 + 2 events
KW = {"chunk_size": CHUNK, "mpi": False, "progress": False}
ARGS = f"--process h --events {N} --seed {SEED} --chunk-size {CHUNK} --no-mpi --prefilter"  # the course defaults (COURSE_MPI, COURSE_PREFILTER)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make(out: Path, **extra) -> Path | None:
    return d.generate_dataset("h", N, SEED, out, **(KW | extra))


def leftovers(folder: Path) -> list[str]:
    """Files and folders that look like (parts of) datasets."""
    patterns = ("*.h5", "*.partial", "*.chunks", "*.json")
    return sorted(str(p.relative_to(folder)) for pat in patterns for p in folder.rglob(pat))


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    """The reference dataset: one job, one worker."""
    out = make(tmp_path_factory.mktemp("ref") / "h.h5")
    assert out is not None and out.is_file()
    return out


@pytest.fixture(scope="module")
def gg(tmp_path_factory) -> Path:
    out = d.generate_dataset("gg", 6, SEED, tmp_path_factory.mktemp("gg") / "gg.h5",
                             chunk_size=3, mpi=False, progress=False)
    assert out is not None
    return out


# --------------------------------------------------------------------------------------------
# Seeds, paths
# --------------------------------------------------------------------------------------------


def test_chunk_seeds_are_deterministic_and_independent():
    seeds = {(p, k): d.chunk_seeds(SEED, p, k) for p in d.PROCESSES for k in range(50)}
    assert seeds[("h", 3)] == d.chunk_seeds(SEED, "h", 3)
    assert len({s[0] for s in seeds.values()}) == len(seeds)  # all Pythia seeds differ
    assert all(generation.SEED_MIN <= s[0] <= generation.SEED_MAX and 0 <= s[1] < 2**63
               for s in seeds.values())
    assert d.shard_chunks(10, 1, 3) == [0, 3, 6, 9] and d.shard_chunks(10, 3, 3) == [2, 5, 8]


def test_default_manifest_paths(tmp_path):
    repo_data = Path(d.__file__).resolve().parents[1] / "data"
    assert d.default_manifest_path(repo_data / "generated" / "h.h5") == (
        repo_data / "manifests" / "generated" / "h.h5.json")
    assert d.default_manifest_path(tmp_path / "h.h5") == tmp_path / "h.h5.manifest.json"


# --------------------------------------------------------------------------------------------
# The stored events are the pipeline's events
# --------------------------------------------------------------------------------------------


def test_stored_events_equal_the_pipeline(ref):
    """Re-run chunk 0 by hand and compare exactly: Pythia, the detector on the same batches of
    events with the same generator, then the one-event image and reconstruction (which the
    chunk did batch-wise from sparse pixels)."""
    images_ds = d.load_dataset(ref, "image")
    chunk0 = np.flatnonzero(images_ds.truth["chunk"] == 0)
    wanted = dict(zip(images_ds.truth["event"][chunk0].tolist(), chunk0.tolist()))
    pythia_seed, detector_seed = d.chunk_seeds(SEED, "h", 0)
    rng = np.random.default_rng(detector_seed)
    batch = d.SIMULATION_BATCH
    n_batches = max(wanted) // batch + 1
    events = list(generation.generate_with_truth("h", n_batches * batch, pythia_seed, mpi=False,
                                                 prefilter=d.COURSE_PREFILTER))
    for first in range(0, len(events), batch):
        block = events[first:first + batch]
        responses = detector.simulate_many([p for p, _ in block], rng)
        for number, response, (_, truth) in zip(range(first, first + batch), responses, block):
            image = images.event_image(response)
            reco = reconstruction.reconstruct_event(image)
            if number > max(wanted):
                break
            assert (reco.pair is not None) == (number in wanted)
            if number in wanted:
                i = wanted[number]
                assert np.array_equal(images_ds[i].numpy(), image)
                assert np.array_equal(images_ds.features[i], reco.features)
                assert images_ds.mass[i] == reco.mass
                assert images_ds.photons[i].tobytes() == reco.photons[list(reco.pair)].tobytes()
                assert images_ds.truth["pt_hat"][i] == truth.pt_hat
    with h5py.File(ref) as f:
        assert f["chunks/n_simulated"][0] == max(wanted) + 1  # counted up to the last kept event


# --------------------------------------------------------------------------------------------
# Determinism: seeds, shards, workers, resuming
# --------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_file(ref, tmp_path):
    again = make(tmp_path / "h.h5")
    assert sha(again) == sha(ref)  # byte-identical, not only equal content
    assert not d.work_dir(again).exists()  # the work folder is removed after the merge
    other, _ = d.simulate_chunk(d.DatasetSpec("h", N, SEED + 1, CHUNK, mpi=False), 0)
    assert not np.array_equal(other["features"], d.load_dataset(ref).features[:CHUNK])


def test_shards_then_automatic_merge_equal_one_job(ref, tmp_path):
    out = tmp_path / "h.h5"
    assert make(out, shard=(1, 2)) is None  # chunks 0 and 2: not complete yet
    assert not out.exists()
    assert sorted(p.name for p in d.work_dir(out).glob("chunk_*")) == ["chunk_00000.h5", "chunk_00002.h5"]
    assert make(out, shard=(2, 2)) == out  # the last shard finds every chunk and merges
    assert sha(out) == sha(ref)


def test_shards_then_cli_merge_equal_one_job(ref, tmp_path):
    out = tmp_path / "h.h5"
    for i in (2, 1):
        assert make(out, shard=(i, 2), merge=False) is None
    assert not out.exists()
    assert d.main(["merge", "--out", str(out), "--quiet"]) == 0
    assert sha(out) == sha(ref)
    assert json.loads((tmp_path / "h.h5.manifest.json").read_text())["sha256"] == sha(ref)


def test_parallel_workers_equal_one_job(ref, tmp_path):
    out = make(tmp_path / "h.h5", workers=2)
    assert sha(out) == sha(ref)


def test_resume_after_interrupt_equals_one_job(ref, tmp_path, monkeypatch):
    real = d.simulate_chunk
    calls: list[int] = []

    def interrupted(spec, chunk, reconstruct=None):
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C while the second chunk is being made
        calls.append(chunk)
        return real(spec, chunk, reconstruct)

    out = tmp_path / "h.h5"
    monkeypatch.setattr(chunks, "simulate_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make(out)
    assert not out.exists()
    assert sorted(p.name for p in d.work_dir(out).iterdir()) == ["chunk_00000.h5", "settings.json"]

    calls.clear()
    monkeypatch.setattr(chunks, "simulate_chunk", lambda spec, chunk, reco=None: calls.append(chunk) or real(spec, chunk, reco))
    assert make(out) == out
    assert calls == [1, 2]  # chunk 0 was reused
    assert sha(out) == sha(ref)
    assert leftovers(tmp_path) == ["h.h5", "h.h5.manifest.json"]


def test_damaged_chunk_is_made_again(ref, tmp_path):
    out = tmp_path / "h.h5"
    make(out, merge=False)
    chunk = d.work_dir(out) / "chunk_00001.h5"
    chunk.write_bytes(chunk.read_bytes()[:-500])
    with pytest.warns(UserWarning, match="chunk_00001.h5"):
        assert make(out) == out
    assert sha(out) == sha(ref)


def test_chunks_of_other_settings_are_refused(tmp_path):
    out = tmp_path / "h.h5"
    make(out, shard=(1, 3))  # chunk 0 only
    with pytest.raises(d.DatasetError, match=r"other settings(.|\n)*seed: 7 \(there\) vs 8 \(now\)"):
        d.generate_dataset("h", N, SEED + 1, out, **KW)
    # A chunk file of another seed slipped into the work folder is an error too, not reused.
    other = tmp_path / "other.h5"
    d.generate_dataset("h", N, SEED + 1, other, shard=(2, 3), **KW)  # chunk 1 of seed 8
    shutil.copy(d.work_dir(other) / "chunk_00001.h5", d.work_dir(out) / "chunk_00001.h5")
    with pytest.raises(d.DatasetError, match=r"chunk_00001.h5 was made with other settings"):
        make(out)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Damaged files are detected, with the command that remakes them
# --------------------------------------------------------------------------------------------


def copy_with_manifest(ref: Path, folder: Path) -> Path:
    path = folder / "copy.h5"
    shutil.copy(ref, path)
    shutil.copy(ref.with_name(ref.name + ".manifest.json"), folder / "copy.h5.manifest.json")
    return path


def test_truncated_file_is_detected(ref, tmp_path, capsys):
    path = copy_with_manifest(ref, tmp_path)
    path.write_bytes(ref.read_bytes()[: ref.stat().st_size - 1000])
    command = f"python -m e2e_tutorial.datasets generate {ARGS} --out {path} --force"
    for check in (True, False):  # with and without the manifest checksum
        with pytest.raises(d.DatasetError) as err:
            d.load_dataset(path, verify_checksum=check)
        assert str(path) in str(err.value) and command in str(err.value)
    assert d.main(["verify", str(path)]) == 1
    assert command in capsys.readouterr().err
    assert d.main(["verify", str(ref)]) == 0


def test_flipped_byte_is_detected(ref, tmp_path):
    path = copy_with_manifest(ref, tmp_path)
    data = bytearray(ref.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(d.DatasetError, match="does not match its manifest") as err:
        d.load_dataset(path)
    assert f"--out {path} --force" in str(err.value)


def test_changed_value_is_detected_without_manifest(ref, tmp_path):
    path = tmp_path / "copy.h5"
    shutil.copy(ref, path)  # no manifest: the content hash still catches a changed number
    with h5py.File(path, "r+") as f:
        f["features"][0, 0] += 1.0
    with pytest.raises(d.DatasetError, match="content_sha256") as err:
        d.load_dataset(path)
    assert f"generate {ARGS} --out {path} --force" in str(err.value)
    with pytest.raises(d.DatasetError, match="no such file"):
        d.load_dataset(tmp_path / "missing.h5")


# --------------------------------------------------------------------------------------------
# Bad arguments: clear errors, nothing left behind
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"process": "hh"}, r"unknown process 'hh'; valid processes are \['gg', 'gj', 'h'\]"),
        ({"n_events": 0}, "n_events .* must be a positive integer; got 0"),
        ({"n_events": -5}, "must be a positive integer; got -5"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer; got 0"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63\); got -1"),
        ({"workers": 0}, "workers must be a positive integer; got 0"),
        ({"shard": (3, 2)}, "shard must be i/n with 1 <= i <= n"),
        ({"shard": (0, 2)}, "shards are 1-based"),
    ],
)
def test_bad_arguments_raise_before_generating(tmp_path, change, message):
    args = {"process": "h", "n_events": N, "seed": SEED, "out": tmp_path / "h.h5"} | KW | change
    with pytest.raises(ValueError, match=message):
        d.generate_dataset(**args)
    assert leftovers(tmp_path) == []


def test_unwritable_or_existing_output_is_refused(tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    for out in (tmp_path / "file.txt" / "h.h5", Path("/proc/e2e_test/h.h5"), tmp_path):
        with pytest.raises(ValueError, match="cannot write|is a folder"):
            make(out)
    existing = tmp_path / "h.h5"
    existing.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        make(existing)
    assert existing.read_bytes() == b"precious"
    assert leftovers(tmp_path) == ["h.h5"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--process", "x", "--events", "3"], "--process: invalid choice: 'x' (choose from"),
        (["--process", "h", "--events", "0"], "--events: must be a positive integer; got '0'"),
        (["--process", "h", "--events", "3", "--shard", "3/2"], "must be i/n with 1 <= i <= n"),
        (["--process", "h", "--events", "3", "--chunk-size", "-1"], "must be a positive integer"),
        (["--process", "h", "--events", "3", "--out", "/proc/e2e_test/h.h5"], "cannot write"),
    ],
)
def test_cli_argument_errors(tmp_path, capsys, argv, message):
    if "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "h.h5")]
    with pytest.raises(SystemExit) as exit_:
        d.main(["generate", *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_cli_generate_and_refuse_overwrite(ref, tmp_path, capsys):
    out = tmp_path / "h3.h5"
    argv = ["generate", "--process", "h", "--events", "3", "--seed", str(SEED), "--chunk-size",
            str(CHUNK), "--no-mpi", "--out", str(out), "--workers", "1", "--quiet"]
    assert d.main(argv) == 0
    assert d.main(["verify", str(out)]) == 0
    # The first 3 events of chunk 0 do not depend on how many events the chunk holds.
    assert np.array_equal(d.load_dataset(out).features, d.load_dataset(ref).features[:3])
    manifest = json.loads((tmp_path / "h3.h5.manifest.json").read_text())
    assert manifest["made_by"].startswith("python -m e2e_tutorial.datasets generate --process h")
    with pytest.raises(SystemExit):
        d.main(argv)
    assert "exists; pass --force" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def test_metadata(ref):
    attrs = d.verify_dataset(ref)
    assert attrs["process"] == "h" and attrs["n_events"] == N and attrs["seed"] == SEED
    assert attrs["chunk_size"] == CHUNK and attrs["n_chunks"] == 3 and attrs["mpi"] is False
    assert attrs["package_version"] and attrs["pythia8mc_version"] and attrs["h5py_version"]
    assert json.loads(attrs["feature_names"]) == list(reconstruction.FEATURE_NAMES)
    assert json.loads(attrs["detector_params"])["ecal_noise_gev"] == detector.DEFAULT.ecal_noise_gev
    assert "HiggsSM:gg2H = on" in json.loads(attrs["generator_settings"])
    assert attrs["command"] == f"python -m e2e_tutorial.datasets generate {ARGS} --out h.h5"
    assert attrs["n_simulated"] >= N and 0 < attrs["efficiency_per_simulated"] <= 1
    with h5py.File(ref) as f:
        assert f["chunks/n_selected"][()].tolist() == [4, 4, 2]
        assert (f["chunks/n_simulated"][()] >= [4, 4, 2]).all()


def test_load_dataset_kinds(ref):
    feats = d.load_dataset(ref, "features")
    assert len(feats) == N and feats[0].shape == (5,) and feats[0].dtype == torch.float32
    assert feats.feature_names == list(reconstruction.FEATURE_NAMES)

    full = d.load_dataset(ref, "image")
    x = full[-1]
    assert x.shape == images.IMAGE_SHAPE and x.dtype == torch.float32
    small = d.load_dataset(ref, "image", downsample=5)
    assert small[-1].shape == (3, 34, 72)
    assert torch.allclose(small[-1].sum(dim=(1, 2)), x.sum(dim=(1, 2)), rtol=1e-5)
    for i in range(len(small)):  # straight from the sparse pixels = the dense image, block-summed
        reference = images.downsample_image(full.image(i), 5)
        np.testing.assert_allclose(small[i].numpy(), reference, rtol=1e-5, atol=1e-6)

    crops = d.load_dataset(ref, "crops", crop_size=16)
    c = crops[0]
    assert c.shape == (6, 16, 16) and c.dtype == torch.float32
    lead, sub = crops.photons[0]
    image = full[0]
    assert c[1, 8, 8] == image[1, lead["ieta"], lead["iphi"]]  # ECAL seed at the crop centre
    assert c[4, 8, 8] == image[1, sub["ieta"], sub["iphi"]]

    batch = next(iter(DataLoader(d.load_dataset(ref, "crops", crop_size=8, label=1), batch_size=4)))
    assert batch[0].shape == (4, 6, 8, 8) and batch[1].tolist() == [1, 1, 1, 1]
    assert len(d.load_dataset(ref, n_events=3)) == 3
    with pytest.raises(IndexError):
        feats[N]
    for bad in ({"kind": "pixels"}, {"downsample": 3}, {"crop_size": 0}, {"n_events": N + 1}):
        with pytest.raises(ValueError):
            d.load_dataset(ref, **bad)


def test_binary_task_labels_and_splits(ref, gg):
    task = d.binary_task(ref, gg, "features", seed=1)
    assert task.class_names == ("h", "gg")  # label 0 = signal, 1 = background
    assert (len(task.train), len(task.val), len(task.test)) == (6 + 4, 2 + 1, 2 + 1)
    sig = d.load_dataset(ref).features
    bkg = d.load_dataset(gg).features
    seen = []
    for name in ("train", "val", "test"):
        split = getattr(task, name)
        for k, (x, y) in enumerate(split):
            assert y.dtype == torch.int64 and int(y) == task.labels[name][k]
            source = sig if int(y) == 0 else bkg
            assert any(np.array_equal(x.numpy(), row) for row in source)
            seen.append((int(y), tuple(x.tolist())))
    assert len(set(seen)) == N + 6  # every event in exactly one split
    again = d.binary_task(ref, gg, seed=1)
    assert again.train.indices == task.train.indices
    assert d.binary_task(ref, gg, seed=2).train.indices != task.train.indices
    assert len(d.binary_task(ref, gg, n_per_class=5).train) == 3 + 3
    with pytest.raises(ValueError, match="fractions"):
        d.binary_task(ref, gg, fractions=(0.5, 0.5, 0.5))


# --------------------------------------------------------------------------------------------
# The committed samples of fast mode
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("process", d.PROCESSES)
def test_committed_sample_is_intact_and_matches_fast_mode(process):
    """data/samples/<process>.h5 matches its committed manifest and the fast-mode settings."""
    from e2e_tutorial import config

    path = d.course_path(process, config.FAST)
    assert path.parent == d.SAMPLES_DIR and path.exists(), "run `make samples`"
    attrs = d.verify_dataset(path)  # checksum against data/manifests/samples/<process>.h5.json
    assert attrs["process"] == process
    assert attrs["n_events"] == config.FAST.events_per_process
    assert attrs["seed"] == config.FAST.seed
    assert bool(attrs["mpi"]) == d.COURSE_MPI and bool(attrs["prefilter"]) == d.COURSE_PREFILTER
    assert path.stat().st_size < 3e6, "committed samples must stay small"


def test_missing_course_dataset_says_how_to_make_it(monkeypatch, tmp_path):
    from e2e_tutorial import config

    monkeypatch.setattr(d, "GENERATED_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"run `make data`"):
        d.load_course_dataset("h", "features", config.FULL)
