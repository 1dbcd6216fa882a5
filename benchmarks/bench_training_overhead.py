"""Overhead of e2e_tutorial.training.fit over a bare loop doing the same arithmetic.

    .venv/bin/python benchmarks/bench_training_overhead.py               # 1 thread, 11 reps
    .venv/bin/python benchmarks/bench_training_overhead.py --threads 2 --reps 21

Each repetition runs, side by side in alternating order and from the same initial weights,
``--epochs`` (3) epochs of:

* ``bare``: the model's forward + cross-entropy + backward + Adam step on the mini-batches
  that fit uses, prepared in memory beforehand, then a forward pass over the validation
  batches -- no batching, no metrics, no output;
* ``fit``: :func:`e2e_tutorial.training.fit` on a ``TensorDataset`` (set-up, batching, label
  checks, validation loss/accuracy/AUC, history, progress lines printed into a buffer);
* ``loader`` (unless ``--no-loader``): ``fit`` given ``DataLoader(TensorDataset, 256,
  shuffle=True)``, the textbook way, whose per-sample indexing and collation are the classic
  cost for tiny inputs.

The model is the course's kinematic network, ``FCN(5, (64, 64), 2)`` (a Sequential of the same
shape if ``e2e_tutorial.models`` is not there); 50,000 training and 10,000 validation samples,
batch 256, fp32 on the CPU. Reported: the median over repetitions of the per-repetition ratio
``fit / bare`` (1.00 = no overhead), with quartiles. One torch thread by default: on a 2-core
machine with anything else running, two OpenMP threads stall each other and the timings
scatter by tens of percent. Run it on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from e2e_tutorial import training


Batches = list[tuple[torch.Tensor, torch.Tensor]]


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    try:
        from e2e_tutorial.models import FCN

        return FCN(5, (64, 64), 2)
    except ImportError:
        return nn.Sequential(
            nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
        )


def make_data(n: int, seed: int) -> TensorDataset:
    gen = np.random.default_rng(seed)
    x = gen.normal(size=(n, 5)).astype(np.float32)
    y = (x @ np.array([1.0, -0.5, 0.3, 0.0, 0.8]) + gen.normal(size=n) < 0).astype(np.int64)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def in_memory_batches(data: TensorDataset, order: torch.Tensor, batch: int) -> Batches:
    x, y = data.tensors
    return [(x[order[i : i + batch]], y[order[i : i + batch]]) for i in range(0, len(order), batch)]


def bare_loop(model: nn.Module, train_epochs: list[Batches], val: Batches) -> None:
    """The arithmetic of ``fit`` and nothing else: each epoch, Adam steps on prepared batches,
    then a forward pass over the validation batches."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for train in train_epochs:
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for x, _ in val:
                model(x)


def fit_loop(model: nn.Module, epochs: int, train, val: TensorDataset, batch: int | None) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # the progress lines are part of the cost
        training.fit(model, train, val, epochs=epochs, batch_size=batch, device="cpu", seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per repetition")
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-val", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-loader", action="store_true", help="skip the DataLoader variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train, val = make_data(args.n_train, 1), make_data(args.n_val, 2)
    # the order fit gives each epoch (seed 0); the bare loop gets exactly those batches
    epochs = range(1, args.epochs + 1)
    orders = [training._train_order(args.n_train, e, 0, True, 0, 1) for e in epochs]
    train_epochs = [in_memory_batches(train, order, args.batch) for order in orders]
    val_batches = in_memory_batches(val, torch.arange(args.n_val), args.batch)
    loader = DataLoader(train, batch_size=args.batch, shuffle=True)
    runs = {
        "bare": lambda model: bare_loop(model, train_epochs, val_batches),
        "fit": lambda model: fit_loop(model, args.epochs, train, val, args.batch),
    }
    if not args.no_loader:
        runs["loader"] = lambda model: fit_loop(model, args.epochs, loader, val, None)
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.reps + 1):  # repetition 0 is a warm-up
        for name in names if rep % 2 == 0 else names[::-1]:
            model = make_model(0)  # every run starts from the same weights
            start = time.perf_counter()
            runs[name](model)
            if rep:
                times[name].append(time.perf_counter() - start)

    print(
        f"{args.n_train} train / {args.n_val} val samples, batch {args.batch}, "
        f"{torch.get_num_threads()} thread(s), {args.reps} repetitions of {args.epochs} epochs, "
        f"model {type(make_model(0)).__name__}"
    )
    for name in names:
        print(f"  {name:<7} median {statistics.median(times[name]) / args.epochs:.3f} s per epoch")
    for name in names[1:]:
        ratios = [t / b for t, b in zip(times[name], times["bare"])]
        q = np.percentile(ratios, [25, 75])
        median = statistics.median(ratios)
        print(f"  {name} / bare: median {median:.3f} (quartiles {q[0]:.3f}-{q[1]:.3f})")


if __name__ == "__main__":
    main()
