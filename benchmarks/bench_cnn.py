"""Training speed of the course's CNNs and the cost of ``training.fit`` for image data.

    .venv/bin/python benchmarks/bench_cnn.py                 # everything, 2 threads, < 5 min
    .venv/bin/python benchmarks/bench_cnn.py --skip-full     # without the full 170x360 images
    .venv/bin/python benchmarks/bench_cnn.py --threads 1 --reps 11

1. **Throughput** (images/s of forward + cross-entropy + backward + Adam step, ``train()``
   mode) of ``ResNet15`` and ``PlainCNN`` on random tensors: 6x32x32 photon-pair crops in
   batches of 64 and full 3x170x360 event images in batches of 8 (few steps: ResNet15 does a
   few images per second on the CPU). The models alternate repetition by repetition; medians.
2. **Overhead of ``fit``** on the course's fast-mode samples (``data/samples``, H->gg against
   gamma+jet, :func:`datasets.binary_task`), one epoch per repetition from the same weights,
   against a bare loop doing the same forward/backward/step on the same batches (same order,
   tensors prepared beforehand) and a forward pass over the same validation batches:

   a. crops (6 x ``--crop`` x ``--crop``), turned into a ``TensorDataset`` first with
      ``training.to_tensor_dataset`` as the notebooks do;
   b. full images summed over ``--downsample`` blocks (``load_dataset(kind="image",
      downsample=...)``), given to ``fit`` as the dataset itself, i.e. densified from the
      sparse arrays item by item in fit's DataLoader; also ``fit`` on the same images
      pre-densified into a ``TensorDataset``, which separates the engine from densifying.

   c. ResNet15 on full-resolution 3x170x360 images densified on the fly, batch 8, a few
      images per class (``--full-fit-events``), ``--full-reps`` repetitions.

   Reported: median (quartiles) over repetitions of the per-repetition ratio to the bare loop.
3. With CUDA: the throughput of 1. on the GPU in fp32 and under
   ``torch.autocast("cuda", dtype=torch.bfloat16)``. Skipped (with a line saying so) without.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from e2e_tutorial import config, datasets, training
from e2e_tutorial.models import PlainCNN, ResNet15

# The bare loop and the fit call are those of the FCN overhead benchmark, so both measure alike.
from bench_training_overhead import bare_loop, fit_loop, in_memory_batches



def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q3 = np.percentile(values, [25, 75])
    return statistics.median(values), float(q1), float(q3)


def make_model(name: str, shape: tuple[int, int, int], seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if name == "ResNet15":
        return ResNet15(shape[0])
    return PlainCNN(shape[0], shape)


# --------------------------------------------------------------------------------------------
# 1 and 3: throughput on random tensors
# --------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(
    names: list[str], shape: tuple[int, int, int], batch: int, steps: int, reps: int,
    device: torch.device, bf16: bool = False,
) -> dict[str, list[float]]:
    """images/s per repetition of ``steps`` training steps, models alternating."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((batch, *shape), generator=gen).to(device)
    y = torch.randint(0, 2, (batch,), generator=gen).to(device)
    setups = {}
    for name in names:
        model = make_model(name, shape).to(device).train()
        setups[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
    amp = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
        with amp():
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rates: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up
        step(*setups[name])
    _sync(device)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            _sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                step(*setups[name])
            _sync(device)
            rates[name].append(steps * batch / (time.perf_counter() - start))
    return rates


def report_throughput(title: str, rates: dict[str, list[float]]) -> None:
    print(title)
    for name, values in rates.items():
        med, q1, q3 = quartiles(values)
        print(f"  {name:<9} {med:9.1f} images/s  (quartiles {q1:.1f}-{q3:.1f}, {len(values)} reps)")


# --------------------------------------------------------------------------------------------
# 2: fit against a bare loop
# --------------------------------------------------------------------------------------------


def dense(data) -> TensorDataset:
    """(x, y) of every item, stacked (densified once, outside the timings)."""
    return training.to_tensor_dataset(data, batch_size=256)


def overhead(
    label: str, model_name: str, shape: tuple[int, int, int], runs: dict[str, Callable], reps: int,
    n_train: int,
) -> None:
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps + 1):  # repetition 0 is a warm-up
        for name in names if rep % 2 == 0 else names[::-1]:
            model = make_model(model_name, shape)
            start = time.perf_counter()
            runs[name](model)
            if rep:
                times[name].append(time.perf_counter() - start)
    print(f"{label}: {model_name}{shape}, {n_train} training images, 1 epoch per repetition, {reps} reps")
    for name in names:
        t = statistics.median(times[name])
        print(f"  {name:<12} median {t:.3f} s per epoch ({n_train / t:.0f} training images/s incl. validation)")
    for name in names[1:]:
        med, q1, q3 = quartiles([t / b for t, b in zip(times[name], times["bare"])])
        print(f"  {name} / bare: median {med:.3f} (quartiles {q1:.3f}-{q3:.3f})")


def densify_cost(data, reps: int = 3) -> float:
    """Median seconds to read every item of ``data`` once (densify + downsample + to tensor)."""
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        for i in range(len(data)):
            data[i]
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--reps", type=int, default=11, help="repetitions (default 11)")
    parser.add_argument("--full-reps", type=int, default=5, help="repetitions, full images")
    parser.add_argument("--full-steps", type=int, default=3, help="steps per rep, full images")
    parser.add_argument("--skip-full", action="store_true", help="no full 170x360 throughput")
    parser.add_argument("--crop", type=int, default=32, help="crop side (default 32)")
    parser.add_argument("--crop-model", default="PlainCNN", choices=["PlainCNN", "ResNet15"])
    parser.add_argument("--downsample", type=int, default=5, help="image downsample for 2b")
    parser.add_argument("--image-events", type=int, default=200, help="events per class for 2b")
    parser.add_argument("--batch", type=int, default=64, help="batch for part 2 (default 64)")
    parser.add_argument("--full-fit-events", type=int, default=24,
                        help="events per class for 2c, ResNet15 on full 170x360 images (0: skip)")
    parser.add_argument("--cpu-bf16", action="store_true",
                        help="also run part 3's bf16 code path on the CPU (a smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")

    # 1. throughput
    crop = (6, 32, 32)
    report_throughput("1. CPU throughput, 6x32x32 crops, batch 64 (5 steps per rep)",
                      throughput(["ResNet15", "PlainCNN"], crop, 64, 5, args.reps, cpu))
    full = (3, 170, 360)
    if not args.skip_full:
        report_throughput(
            f"1. CPU throughput, 3x170x360 images, batch 8 ({args.full_steps} step(s) per rep)",
            throughput(["ResNet15", "PlainCNN"], full, 8, args.full_steps, args.full_reps, cpu))
    if args.cpu_bf16:
        report_throughput("   (smoke test) CPU, crops, bf16 autocast",
                          throughput(["ResNet15", "PlainCNN"], crop, 64, 1, 1, cpu, bf16=True))

    # 2. fit against a bare loop, fast-mode course samples
    fast = config.FAST
    h, gj = datasets.course_path("h", fast), datasets.course_path("gj", fast)
    order = training._train_order  # fit's sample order for a Dataset (= DistributedSampler's)

    task = datasets.binary_task(h, gj, kind="crops", crop_size=args.crop)
    train, val = dense(task.train), dense(task.val)
    shape = tuple(train.tensors[0].shape[1:])
    tb = in_memory_batches(train, order(len(train), 1, 0, True, 0, 1), args.batch)
    vb = in_memory_batches(val, torch.arange(len(val)), args.batch)
    overhead("2a. crops, TensorDataset", args.crop_model, shape, {
        "bare": lambda m: bare_loop(m, [tb], vb),
        "fit": lambda m: fit_loop(m, 1, train, val, args.batch),
    }, args.reps, len(train))

    task = datasets.binary_task(h, gj, kind="image", downsample=args.downsample,
                                n_per_class=args.image_events)
    itrain, ival = dense(task.train), dense(task.val)
    shape = tuple(itrain.tensors[0].shape[1:])
    ib = in_memory_batches(itrain, order(len(itrain), 1, 0, True, 0, 1), args.batch)
    ivb = in_memory_batches(ival, torch.arange(len(ival)), args.batch)
    overhead(f"2b. full images / {args.downsample}, densified on the fly", "PlainCNN", shape, {
        "bare": lambda m: bare_loop(m, [ib], ivb),
        "fit_sparse": lambda m: fit_loop(m, 1, task.train, task.val, args.batch),
        "fit_tensor": lambda m: fit_loop(m, 1, itrain, ival, args.batch),
    }, args.reps, len(itrain))
    n = len(task.train) + len(task.val)
    t = densify_cost(task.train) + densify_cost(task.val)
    print(f"  reading the {n} items once (densify, downsample, to tensor): {t:.3f} s "
          f"({1e3 * t / n:.2f} ms per item)")

    if args.full_fit_events:
        task = datasets.binary_task(h, gj, kind="image", n_per_class=args.full_fit_events)
        ftrain, fval = dense(task.train), dense(task.val)
        fb = in_memory_batches(ftrain, order(len(ftrain), 1, 0, True, 0, 1), 8)
        fvb = in_memory_batches(fval, torch.arange(len(fval)), 8)
        overhead("2c. full 3x170x360 images, densified on the fly, batch 8", "ResNet15", full, {
            "bare": lambda m: bare_loop(m, [fb], fvb),
            "fit_sparse": lambda m: fit_loop(m, 1, task.train, task.val, 8),
        }, args.full_reps, len(ftrain))

    # 3. GPU
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        print(f"3. GPU: {torch.cuda.get_device_name(gpu)}")
        for bf16 in (False, True):
            tag = "bf16 autocast" if bf16 else "fp32"
            report_throughput(f"3. GPU, 6x32x32 crops, batch 64, {tag}",
                              throughput(["ResNet15", "PlainCNN"], crop, 64, 20, args.reps, gpu, bf16))
            report_throughput(f"3. GPU, 3x170x360 images, batch 8, {tag}",
                              throughput(["ResNet15", "PlainCNN"], full, 8, 10, args.reps, gpu, bf16))
    else:
        print("3. GPU: torch.cuda.is_available() is False, skipped")


if __name__ == "__main__":
    main()
