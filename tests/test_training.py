"""e2e_tutorial.training: the one training loop (fit), predict, checkpoints and DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset, random_split

from e2e_tutorial import training

REPO = Path(__file__).resolve().parents[1]


def separable(n: int, seed: int, n_features: int = 5, noise: float = 0.2) -> TensorDataset:
    """Two classes split by a plane through the origin (label 0 = signal on one side)."""
    gen = np.random.default_rng(seed)
    w = np.linspace(1.0, -1.0, n_features)
    x = gen.normal(size=(n, n_features)).astype(np.float32)
    y = (x @ w + noise * gen.normal(size=n) < 0).astype(np.int64)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def noise_labels(n: int, seed: int) -> TensorDataset:
    gen = np.random.default_rng(seed)
    x = torch.from_numpy(gen.normal(size=(n, 5)).astype(np.float32))
    return TensorDataset(x, torch.from_numpy(gen.integers(0, 2, size=n)))


def mlp(seed: int, hidden: int = 16, dropout: float = 0.0, n_classes: int = 2) -> nn.Module:
    training.seed_everything(seed)
    return nn.Sequential(
        nn.Linear(5, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
    )


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def without_times(history: training.History) -> dict:
    d = history.to_dict()
    del d["epoch_time"]
    return d


class PlainDataset(Dataset):
    """The same (x, y) pairs as a TensorDataset, but not one: fit must use a DataLoader."""

    def __init__(self, tensors: TensorDataset) -> None:
        self.x, self.y = tensors.tensors

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


# ---------------------------------------------------------------------------- learning


def test_a_small_model_learns_a_separable_problem(capsys):
    model = mlp(1)
    history = training.fit(
        model, separable(2000, 1), separable(1000, 2), epochs=5, batch_size=64, lr=1e-2,
        device="cpu",
    )
    assert len(history) == 5 and history.epoch == [1, 2, 3, 4, 5]
    assert history.val_auc[history.best_epoch - 1] > 0.95
    assert history.val_accuracy[-1] > 0.85
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    lines = capsys.readouterr().out.splitlines()
    assert "device cpu (fp32)" in lines[0]
    assert sum(line.startswith("epoch ") for line in lines) == 5


def test_validation_metrics_agree_with_an_independent_computation():
    """Three classes: AUC is signal (class 0) against both backgrounds, from predict()."""
    gen = np.random.default_rng(3)
    centres = np.array([[1.5, 0, 0, 0, 0], [0, 1.5, 0, 0, 0], [0, 0, 1.5, 0, 0]])
    y = gen.integers(0, 3, size=1500)
    x = (centres[y] + gen.normal(size=(1500, 5))).astype(np.float32)
    data = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    train, val = random_split(data, [1000, 500], generator=torch.Generator().manual_seed(0))
    model = mlp(2, n_classes=3)
    history = training.fit(
        model, train, val, epochs=2, batch_size=100, restore_best=False, device="cpu",
        verbose=False,
    )
    xv = x[np.asarray(val.indices)]
    yv = y[np.asarray(val.indices)]
    with torch.no_grad():
        logits = model(torch.from_numpy(xv))
    loss = F.cross_entropy(logits, torch.from_numpy(yv)).item()
    assert history.val_loss[-1] == pytest.approx(loss, rel=1e-5)
    assert history.val_accuracy[-1] == pytest.approx(np.mean(logits.argmax(1).numpy() == yv))
    score = training.predict(model, val)
    np.testing.assert_allclose(score, torch.softmax(logits, 1)[:, 0].numpy(), rtol=1e-5)
    assert history.val_auc[-1] == pytest.approx(roc_auc_score(yv == 0, score), rel=1e-6)


# ---------------------------------------------------------------------------- repeatability


def run_once(seed: int) -> tuple[nn.Module, training.History]:
    model = mlp(seed, dropout=0.3)
    history = training.fit(
        model, separable(600, 5), separable(300, 6), epochs=3, batch_size=32, seed=seed,
        device="cpu", verbose=False,
    )
    return model, history


def test_two_runs_with_the_same_seed_are_identical():
    (m1, h1), (m2, h2) = run_once(7), run_once(7)
    assert without_times(h1) == without_times(h2)
    assert same_weights(m1, m2)
    m3, h3 = run_once(8)
    assert not same_weights(m1, m3)


@pytest.mark.parametrize("n, world", [(50, 1), (50, 2), (7, 3), (2, 4)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_the_direct_path_orders_samples_as_distributed_sampler_does(n, world, shuffle):
    for rank in range(world):
        for epoch in (1, 2):
            sampler = DistributedSampler(range(n), world, rank, shuffle=shuffle, seed=5)
            sampler.set_epoch(epoch)
            order = training._train_order(n, epoch, 5, shuffle, rank, world)
            assert order.tolist() == list(sampler)


def test_the_direct_tensor_path_gives_the_same_batches_as_a_dataloader():
    train, val = separable(500, 1), separable(200, 2)
    results = []
    subset = random_split(TensorDataset(*[torch.cat([t, t]) for t in train.tensors]), [500, 500],
                          generator=torch.Generator().manual_seed(1))[0]
    for data in (train, PlainDataset(train), subset, PlainDataset(TensorDataset(*subset[:]))):
        model = mlp(3)  # direct indexing vs DataLoader + DistributedSampler, and of a Subset
        training.fit(model, data, val, epochs=2, batch_size=32, seed=4, device="cpu", verbose=False)
        results.append(model)
    assert same_weights(results[0], results[1])
    assert same_weights(results[2], results[3]) and not same_weights(results[0], results[2])
    ordered = []
    for data, batch_size in ((train, 32), (DataLoader(train, batch_size=32), None)):
        model = mlp(3)  # a user's DataLoader, in order, is used as it is
        training.fit(model, data, val, epochs=1, batch_size=batch_size, shuffle=False,
                     device="cpu", verbose=False)
        ordered.append(model)
    assert same_weights(*ordered)


# -------------------------------------------------------------------- early stop, checkpoints


def test_early_stopping_keeps_the_best_checkpoint(tmp_path, capsys):
    """Noise labels and a big model: the validation loss rises after a few epochs."""
    model = mlp(0, hidden=256)
    val = noise_labels(300, 2)
    path = tmp_path / "best.pt"
    history = training.fit(
        model, noise_labels(300, 1), val, epochs=60, batch_size=32, lr=1e-2, patience=3,
        checkpoint=path, device="cpu",
    )
    assert history.stopped_early and len(history) == history.best_epoch + 3 < 60
    assert history.val_loss[history.best_epoch - 1] == min(history.val_loss)
    assert history.val_loss[-1] > history.val_loss[history.best_epoch - 1]
    assert "early stop after epoch" in capsys.readouterr().out
    # the model holds the best weights, and so does the checkpoint
    x, y = val.tensors
    with torch.no_grad():
        loss = F.cross_entropy(model(x), y).item()
    assert loss == pytest.approx(history.val_loss[history.best_epoch - 1], rel=1e-5)
    reloaded = mlp(99, hidden=256)
    saved = training.load_checkpoint(path, reloaded)
    assert same_weights(model, reloaded)
    assert saved.epoch[-1] == saved.best_epoch == history.best_epoch
    assert without_times(saved)["val_loss"] == history.val_loss[: history.best_epoch]


def test_resuming_after_a_crash_equals_an_uninterrupted_run(tmp_path):
    kwargs = dict(batch_size=32, lr=3e-3, weight_decay=1e-4, restore_best=False, seed=11,
                  device="cpu", verbose=False)
    train, val = separable(400, 1), separable(200, 2)
    straight = mlp(5, dropout=0.3)
    h_straight = training.fit(straight, train, val, epochs=4, **kwargs)

    path = tmp_path / "run.pt"
    crashed = mlp(5, dropout=0.3)
    training.fit(crashed, train, val, epochs=2, checkpoint=path, **kwargs)
    assert torch.load(path, weights_only=True)["epoch"] == 2  # the loss fell in both epochs
    del crashed  # "crash": a new process, other random state, a differently initialised model
    torch.manual_seed(12345)
    np.random.seed(1)
    resumed = mlp(6, dropout=0.3)
    h_resumed = training.fit(resumed, train, val, epochs=4, checkpoint=path, resume_from=path,
                             **kwargs)
    assert same_weights(straight, resumed)
    assert without_times(h_resumed) == without_times(h_straight)


def test_one_class_in_validation_gives_a_nan_auc_not_an_error():
    val = separable(100, 2)
    x, y = val.tensors
    signal_only = TensorDataset(x[y == 0], y[y == 0])
    history = fit_small(val=signal_only)
    assert np.isnan(history.val_auc[0]) and np.isfinite(history.val_loss[0])


def test_to_tensor_dataset_reads_a_dataset_once_into_tensors():
    data = separable(300, 1)
    copy = training.to_tensor_dataset(PlainDataset(data), batch_size=64)
    assert isinstance(copy, TensorDataset)
    for a, b in zip(copy.tensors, data.tensors):
        assert torch.equal(a, b)


def test_history_round_trips_and_gives_arrays():
    h = training.History()
    h.append(1, 0.7, {"loss": 0.6, "accuracy": 0.5, "auc": 0.55}, 1.5)
    h.append(2, 0.5, {"loss": 0.4, "accuracy": 0.8, "auc": 0.9}, 1.2)
    h.best_epoch = 2
    assert training.History.from_dict(h.to_dict()) == h
    arrays = h.as_arrays()
    np.testing.assert_array_equal(arrays["val_auc"], [0.55, 0.9])
    assert set(arrays) == set(training.History.PER_EPOCH)


# ---------------------------------------------------------------------------- predict, devices


def test_predict_gives_signal_probabilities_for_every_kind_of_input():
    model = mlp(4, n_classes=3)
    data = separable(50, 3)
    x = data.tensors[0]
    with torch.no_grad():
        expected = torch.softmax(model(x), 1).numpy()
    model.train()
    np.testing.assert_allclose(training.predict_proba(model, x), expected, rtol=1e-6)
    for given in (x.numpy(), data, DataLoader(data, batch_size=7), PlainDataset(data)):
        np.testing.assert_allclose(training.predict(model, given, batch_size=8), expected[:, 0],
                                   rtol=1e-6)
    assert model.training  # the mode is restored


def test_pick_device(monkeypatch):
    monkeypatch.delenv(training.DEVICE_ENV, raising=False)
    assert training.pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert training.pick_device() == torch.device("cpu")
    monkeypatch.setenv(training.DEVICE_ENV, "cpu")
    assert training.pick_device() == torch.device("cpu")


# ---------------------------------------------------------------------------- multi-process (DDP)


def test_two_ddp_processes_learn_what_one_process_learns_with_the_global_batch(tmp_path):
    """torchrun, 2 CPU processes on gloo, 16 samples each per step = one process with 32."""
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop(training.DEVICE_ENV, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "e2e_tutorial.training", "--selftest", "--device", "cpu", "--batch-size", "16",
           "--epochs", "3", "--save", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 processes (DDP, gloo)" in proc.stdout
    assert proc.stdout.count("epoch 1/3") == 1  # rank 0 alone prints
    ddp = torch.load(out, weights_only=True)
    assert ddp["world_size"] == 2 and ddp["max_rank_difference"] == 0.0

    single = training.selftest(batch_size=32, epochs=3, device="cpu", save=tmp_path / "one.pt",
                               verbose=False)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    assert single["world_size"] == 1
    for name, value in one["state"].items():
        torch.testing.assert_close(ddp["state"][name], value, rtol=0, atol=1e-5)
    assert ddp["val_auc"] == pytest.approx(one["val_auc"], abs=1e-4)


# ---------------------------------------------------------------------------- bad input


def fit_small(model=None, train=None, val=None, **kwargs):
    kwargs = {"epochs": 1, "device": "cpu", "verbose": False, **kwargs}
    model = mlp(0) if model is None else model
    train = separable(40, 1) if train is None else train
    val = separable(20, 2) if val is None else val
    return training.fit(model, train, val, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, r"epochs must be an integer >= 1; got 0"),
        ({"epochs": 2.5}, r"epochs must be an integer >= 1; got 2.5"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1; got 0"),
        ({"batch_size": -8}, r"batch_size must be an integer >= 1; got -8"),
        ({"optimizer": "rmsprop"}, r"optimizer 'rmsprop' is not supported; expected one of "),
        ({"lr": 0}, r"lr must be a number > 0; got 0"),
        ({"patience": 0}, r"patience must be an integer >= 1; got 0"),
        ({"device": "tpu"}, r"device 'tpu' is not understood"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_small(**kwargs)


def test_an_empty_dataset_is_an_error():
    empty = TensorDataset(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="train dataset is empty"):
        fit_small(train=empty)
    with pytest.raises(ValueError, match="val dataset is empty"):
        fit_small(val=empty)


@pytest.mark.parametrize("wrap", [lambda d: d, PlainDataset], ids=["tensors", "dataloader"])
def test_labels_outside_the_classes_are_an_error(wrap):
    x = torch.randn(40, 5)
    bad = TensorDataset(x, torch.arange(40) % 3)  # class 2 for a 2-output model
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\).*got values from 0 to 2"):
        fit_small(train=wrap(bad))
    with pytest.raises(ValueError, match="integer class indices.*got dtype torch.float32"):
        fit_small(val=wrap(TensorDataset(x, torch.zeros(40))))


@pytest.mark.parametrize(
    "model, shape",
    [(nn.Linear(5, 1), r"\(1, 1\)"), (nn.Sequential(nn.Linear(5, 2), nn.Flatten(0)), r"\(2,\)")],
)
def test_a_model_without_class_logits_is_an_error(model, shape):
    with pytest.raises(ValueError, match=r"logits of shape \(batch, n_classes\).*got " + shape):
        fit_small(model=model)


def test_other_bad_input():
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fit_small(resume_from="/nonexistent/run.pt")
    with pytest.raises(ValueError, match="batch_size=8 differs from the DataLoader's batch_size=4"):
        fit_small(train=DataLoader(separable(40, 1), batch_size=4), batch_size=8)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\); got -1"):
        training.seed_everything(-1)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' asked for, but torch sees no CUDA GPU"):
            training.pick_device("cuda")
        with pytest.raises(ValueError, match="amp=True needs a CUDA GPU with bf16 support"):
            fit_small(amp=True)
