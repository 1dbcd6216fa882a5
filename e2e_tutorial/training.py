"""One training loop for every model of the course: :func:`fit`, :func:`predict` and helpers.

Conventions
-----------
* Data are map-style torch Datasets (or DataLoaders) of ``(x, y)`` pairs: ``x`` the model's
  input, ``y`` an integer class index, **0 = signal** (the seminar's signal-first convention),
  then the backgrounds. ``y`` is not one-hot.
* Models return logits of shape ``(batch, n_classes)``, column 0 = signal; the loss is
  cross-entropy averaged over the mini-batch.
* The signal score is the softmax probability of class 0; the validation AUC is that of
  signal (class 0) against all other classes together.
* Devices: CUDA, then Apple MPS, then CPU (:func:`pick_device`); the environment variable
  ``E2E_DEVICE`` (e.g. ``cpu``) or the ``device`` argument override the choice. On CUDA the
  forward pass runs under bf16 autocast; elsewhere in plain fp32.
* Repeatability: :func:`seed_everything` before building the model, and ``fit(seed=...)``
  for the data order. The order of epoch ``e`` is a function of ``seed + e`` alone (the rule
  of torch's ``DistributedSampler`` with ``set_epoch(e)``, also for one process), so a run
  resumed from a checkpoint sees the same batches.
* Checkpoints (``fit(checkpoint=path)``) are written whenever the validation loss improves:
  they hold the best epoch's model, optimiser state, history and random-number states, and
  ``fit(resume_from=path)`` continues from one as the run would have gone on (bit for bit on
  the CPU).
* A ``TensorDataset(x, y)``, or a ``Subset`` of one (as ``random_split`` returns), is batched
  by indexing its tensors directly, in the order that ``DistributedSampler`` would give; any
  other Dataset goes through a ``DataLoader`` with that sampler. Both give the same batches
  (the tests check it); the direct path avoids the DataLoader's per-sample cost, which
  dominates for small inputs such as kinematic features: :func:`to_tensor_dataset` turns any
  dataset that fits in memory into a TensorDataset.

Multi-GPU
---------
Launched by ``torchrun --nproc_per_node=N script.py`` (environment ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``), the same :func:`fit` initialises the process group (nccl on CUDA, gloo on
CPU; once per process, destroyed at exit) unless the script did, puts each process on its
own GPU (``cuda:LOCAL_RANK``), wraps the model in ``DistributedDataParallel`` and gives each
process its share of every epoch through a ``DistributedSampler``. ``batch_size`` is per
process: one optimiser step sees ``N * batch_size`` samples, the gradients averaged over them.
Each process evaluates every N-th validation sample; the logits are gathered, so every process
computes the metrics of the whole validation set (exactly, not an average of per-process
AUCs) and takes the same early-stopping decision. Only rank 0 prints and writes checkpoints
(with its random-number states, which equal the others' when every process was seeded
alike). Pass Datasets, not DataLoaders. Check a machine with::

    torchrun --standalone --nproc_per_node=2 -m e2e_tutorial.training --selftest
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.metrics import auc, roc_curve
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset
from torch.utils.data import default_collate

__all__ = [
    "DEVICE_ENV",
    "OPTIMIZERS",
    "History",
    "pick_device",
    "seed_everything",
    "make_optimizer",
    "fit",
    "predict",
    "predict_proba",
    "to_tensor_dataset",
    "load_checkpoint",
    "selftest",
]

#: Environment variable that overrides the automatic device choice (``cpu``, ``cuda``, ``mps``).
DEVICE_ENV = "E2E_DEVICE"

#: Optimiser names understood by :func:`make_optimizer` and :func:`fit`.
OPTIMIZERS = ("adam", "sgd")

#: Mini-batch size of :func:`fit` when a Dataset is given without one.
DEFAULT_BATCH_SIZE = 256

#: The direct TensorDataset path gathers about this many bytes of samples per indexing call.
_GATHER_BYTES = 4 * 2**20

_CHECKPOINT_FORMAT = "e2e_tutorial.training/1"

Data = Dataset | DataLoader


# --------------------------------------------------------------------------------------------
# Devices and seeds
# --------------------------------------------------------------------------------------------


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: CUDA if available, then Apple MPS, then CPU.

    ``prefer`` (or, when it is None, the environment variable ``E2E_DEVICE``) names the
    device instead: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``. Naming a device that this
    machine lacks is a ValueError.
    """
    if prefer is None:
        prefer = os.environ.get(DEVICE_ENV, "").strip() or None
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    expected = "expected 'cpu', 'cuda', 'cuda:N' or 'mps'"
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {prefer!r} is not understood; {expected}") from err
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {prefer!r} is not supported; {expected}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {prefer!r} asked for, but torch sees no CUDA GPU here")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device {prefer!r} asked for, but there are {torch.cuda.device_count()} CUDA GPU(s)"
        )
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {prefer!r} asked for, but Apple MPS is not available here")
    return device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python's ``random``, numpy and torch (CPU and GPUs) with ``seed``.

    With ``deterministic`` cuDNN is also told to pick deterministic algorithms. On CPU this
    makes a run repeatable bit for bit; on a GPU, nearly so (some kernels stay
    non-deterministic). Call it before building the model: it fixes the initial weights.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    torch.manual_seed(int(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _rng_state(device: torch.device) -> dict[str, Any]:
    """Every random-number state a training step can touch, in a form torch.load accepts
    with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    if device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    if device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"].cpu())


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch (``epoch`` counts from 1).

    ``val_auc`` is signal (class 0) against the rest; NaN when the validation set holds one
    class only. ``epoch_time`` is seconds of training plus validation. ``best_epoch`` is the
    epoch of the lowest validation loss (0 before any), ``stopped_early`` whether patience
    ran out. For plots: ``h.as_arrays()["val_auc"]`` or ``pandas.DataFrame(h.to_dict())``.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_auc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False

    PER_EPOCH = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_auc", "epoch_time")

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, epoch: int, train_loss: float, val: dict[str, float], seconds: float) -> None:
        """Record one epoch; ``val`` holds ``loss``, ``accuracy`` and ``auc``."""
        self.epoch.append(int(epoch))
        self.train_loss.append(float(train_loss))
        self.val_loss.append(float(val["loss"]))
        self.val_accuracy.append(float(val["accuracy"]))
        self.val_auc.append(float(val["auc"]))
        self.epoch_time.append(float(seconds))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (copies), e.g. for ``pandas.DataFrame`` or json."""
        return dataclasses.asdict(self)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The per-epoch columns as numpy arrays."""
        return {name: np.asarray(getattr(self, name)) for name in self.PER_EPOCH}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - fields
        if unknown:
            raise ValueError(
                f"unknown History field(s) {sorted(unknown)}; expected some of {sorted(fields)}"
            )
        return cls(**{k: list(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()})


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_labels(y: torch.Tensor, n_classes: int, what: str) -> None:
    """Raise ValueError unless ``y`` is a 1-d tensor of integer class indices in [0, n_classes)."""
    if y.ndim != 1:
        raise ValueError(
            f"{what} labels must be a 1-d tensor of class indices (0 = signal); got shape "
            f"{tuple(y.shape)}"
        )
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise ValueError(
            f"{what} labels must be integer class indices (0 = signal), not one-hot or "
            f"probabilities; got dtype {y.dtype}"
        )
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(
            f"{what} labels must lie in [0, {n_classes}) for a model with {n_classes} outputs; "
            f"got values from {int(y.min())} to {int(y.max())}"
        )


def _check_logits(logits: torch.Tensor, batch: int, n_classes: int) -> None:
    if logits.ndim != 2 or logits.shape[0] != batch or logits.shape[1] != n_classes:
        raise ValueError(
            f"the model must return logits of shape (batch, n_classes) = ({batch}, {n_classes}); "
            f"got {tuple(logits.shape)}"
        )


def _pair(item: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise ValueError(f"{what} must yield (x, y) pairs; got {type(item).__name__}")
    return item[0], item[1]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class _Tensors:
    """A ``TensorDataset(x, y)`` or a (nested) ``Subset`` of one: its tensors and, for a
    Subset, the positions of its samples in them."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor | None

    def labels(self) -> torch.Tensor:
        return self.y if self.index is None else self.y[self.index]


def _as_tensors(data: Dataset) -> _Tensors | None:
    """The tensors behind ``data`` when it is a TensorDataset of two or a Subset of one."""
    index = None
    while isinstance(data, Subset):
        positions = torch.as_tensor(data.indices, dtype=torch.long)
        index = positions if index is None else positions[index]
        data = data.dataset
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return _Tensors(data.tensors[0], data.tensors[1], index)
    return None


def _tensor_batches(
    tensors: _Tensors, order: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches taken straight from the tensors, samples in ``order``.

    Rows are gathered about :data:`_GATHER_BYTES` at a time and batches are slices of that:
    one indexing call per chunk instead of one per batch, which matters for tiny inputs.
    """
    if tensors.index is not None:
        order = tensors.index[order]
    x, y = tensors.x, tensors.y
    order = order.to(x.device)
    row_bytes = x[:1].nbytes + y[:1].nbytes
    chunk = batch_size * max(1, _GATHER_BYTES // max(1, batch_size * row_bytes))
    for first in range(0, len(order), chunk):
        rows = order[first : first + chunk]
        xs, ys = x.index_select(0, rows), y.index_select(0, rows.to(y.device))
        for start in range(0, len(rows), batch_size):
            yield xs[start : start + batch_size], ys[start : start + batch_size]


def _checked_batches(
    batches: Iterable[Any], n_classes: int, what: str
) -> Iterator[tuple[Any, Any]]:
    """Batches of a DataLoader, each checked to be an (x, y) pair with valid labels."""
    for item in batches:
        x, y = _pair(item, what)
        _check_labels(torch.as_tensor(y), n_classes, what)
        yield x, y


def _train_order(
    n: int, epoch: int, seed: int, shuffle: bool, rank: int, world: int
) -> torch.Tensor:
    """This process's sample order in ``epoch``, the rule of ``DistributedSampler`` (which the
    tests check): a permutation seeded with ``seed + epoch`` (or 0..n-1 unshuffled), repeated
    at the end to a multiple of ``world``, and every ``world``-th sample from ``rank`` on."""
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    else:
        order = torch.arange(n)
    total = -(-n // world) * world
    if total > n:
        order = order.repeat(-(-total // n))[:total]
    return order[rank:total:world]


def _loader(
    data: Dataset, sampler: Iterable[int], batch_size: int, run: _Run, epoch: int
) -> DataLoader:
    return DataLoader(
        data,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=run.num_workers,
        pin_memory=run.device.type == "cuda",
        # its own generator (worker seeds) leaves the global RNG as the direct path does
        generator=torch.Generator().manual_seed(run.seed + epoch),
    )


def _train_batches(
    data: Data, epoch: int, batch_size: int, shuffle: bool, run: _Run
) -> Iterable[tuple[Any, Any]]:
    """This process's training mini-batches of ``epoch``; a DataLoader keeps its own."""
    if isinstance(data, DataLoader):
        return _checked_batches(data, run.n_classes, "train")
    tensors = _as_tensors(data)
    if tensors is not None:  # labels were checked once, up front
        order = _train_order(len(data), epoch, run.seed, shuffle, run.rank, run.world)
        return _tensor_batches(tensors, order, batch_size)
    sampler = DistributedSampler(
        data, num_replicas=run.world, rank=run.rank, shuffle=shuffle, seed=run.seed
    )
    sampler.set_epoch(epoch)
    return _checked_batches(_loader(data, sampler, batch_size, run, epoch), run.n_classes, "train")


def _val_batches(data: Data, batch_size: int, run: _Run) -> Iterable[tuple[Any, Any]]:
    """This process's share of the validation set (every ``world``-th sample from ``rank``),
    in order; a DataLoader keeps its own batches."""
    if isinstance(data, DataLoader):
        return _checked_batches(data, run.n_classes, "val")
    share = torch.arange(run.rank, len(data), run.world)
    tensors = _as_tensors(data)
    if tensors is not None:
        return _tensor_batches(tensors, share, batch_size)
    return _checked_batches(_loader(data, share.tolist(), batch_size, run, 0), run.n_classes, "val")


def _length(data: Data, what: str) -> int:
    """Number of samples; ValueError for an empty or unsized dataset."""
    dataset = data.dataset if isinstance(data, DataLoader) else data
    try:
        n = len(dataset)
    except TypeError as err:
        raise ValueError(
            f"{what} must be a map-style dataset with a length; got {type(dataset).__name__}"
        ) from err
    if n == 0:
        raise ValueError(f"{what} dataset is empty; expected at least one (x, y) sample")
    return n


def _first_inputs(data: Data, what: str) -> torch.Tensor:
    """A batch holding the first sample's input, to learn the model's output shape."""
    dataset = data.dataset if isinstance(data, DataLoader) else data
    x, _ = _pair(default_collate([dataset[0]]), what)
    return x


def _to_device(x: Any, y: Any, run: _Run) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a batch to the run's device; floating inputs take the model's dtype."""
    x = torch.as_tensor(x)
    dtype = run.dtype if x.is_floating_point() else None
    return (
        x.to(run.device, dtype=dtype, non_blocking=True),
        torch.as_tensor(y).to(run.device, dtype=torch.long, non_blocking=True),
    )


def to_tensor_dataset(data: Dataset, batch_size: int = 1024) -> TensorDataset:
    """The ``(x, y)`` pairs of ``data`` read once and stacked into a ``TensorDataset``.

    :func:`fit` batches a TensorDataset by indexing its tensors, several times faster per
    epoch than a DataLoader over a dataset that builds each sample in Python (kinematic
    features, small crops). The whole dataset is then held in memory: not for full images.
    """
    _length(data, "data")
    xs, ys = [], []
    for item in DataLoader(data, batch_size=_check_int("batch_size", batch_size, 1)):
        x, y = _pair(item, "data")
        xs.append(torch.as_tensor(x))
        ys.append(torch.as_tensor(y))
    return TensorDataset(torch.cat(xs), torch.cat(ys))


# --------------------------------------------------------------------------------------------
# Optimiser, distributed set-up, checkpoints
# --------------------------------------------------------------------------------------------


def make_optimizer(
    params: Iterable[torch.Tensor] | nn.Module,
    name: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """Adam or SGD (with ``momentum``, SGD only) by name, case-insensitive."""
    if isinstance(params, nn.Module):
        params = params.parameters()
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a number > 0; got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0; got {weight_decay!r}")
    if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be a number in [0, 1); got {momentum!r}")
    key = name.lower() if isinstance(name, str) else name
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"optimizer {name!r} is not supported; expected one of {OPTIMIZERS}")


def _torchrun_env() -> tuple[int, int, int] | None:
    """(rank, local rank, world size) when launched by torchrun with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if "RANK" not in os.environ:
        raise ValueError(f"WORLD_SIZE={world} is set but RANK is not; launch with torchrun")
    rank = int(os.environ["RANK"])
    return rank, int(os.environ.get("LOCAL_RANK", rank)), world


def _fit_device(prefer: str | torch.device | None, local_rank: int | None) -> torch.device:
    """pick_device, and under torchrun one GPU per process (``cuda:LOCAL_RANK``) or the CPU."""
    if local_rank is None:
        return pick_device(prefer)
    if prefer is None and not os.environ.get(DEVICE_ENV, "").strip():
        prefer = "cuda" if torch.cuda.is_available() else "cpu"
    device = pick_device(prefer)
    if device.type == "mps":
        raise ValueError(
            "device 'mps' cannot run DistributedDataParallel; expected 'cuda' or 'cpu'"
        )
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def _init_process_group(device: torch.device) -> None:
    """Initialise the default process group from torchrun's environment, once per process.

    It stays up for later fit calls (re-initialising a destroyed group can hang on gloo) and
    is destroyed when the process exits.
    """
    if dist.is_initialized():
        return
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _save_atomically(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _read_checkpoint(path: str | Path, map_location: str | torch.device) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by e2e_tutorial.training.fit")
    return ckpt


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: str | torch.device = "cpu",
) -> History:
    """Load the weights (and optimiser state) saved by :func:`fit` into ``model``; return the
    History up to the saved (best) epoch."""
    ckpt = _read_checkpoint(path, map_location)
    _unwrap(model).load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    return History.from_dict(ckpt["history"])


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """Settings of one fit call that every step needs."""

    device: torch.device
    dtype: torch.dtype
    amp: bool
    rank: int
    world: int
    seed: int
    num_workers: int
    n_classes: int = 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _use_amp(amp: bool | None, device: torch.device) -> bool:
    """bf16 autocast: by default on CUDA GPUs with native bf16 (Ampere on), never elsewhere."""
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
    if amp is None:
        return cuda_bf16
    if amp and not cuda_bf16:
        raise ValueError(f"amp=True needs a CUDA GPU with bf16 support; the device is {device}")
    return bool(amp)


def _probe_classes(module: nn.Module, train: Data, run: _Run) -> int:
    """n_classes from the model's output on the first training sample; checks its shape."""
    x, _ = _to_device(_first_inputs(train, "train"), torch.zeros(1), run)
    was_training = module.training
    module.eval()
    with torch.no_grad(), run.autocast():
        logits = module(x)
    module.train(was_training)
    if logits.ndim != 2 or logits.shape[0] != len(x) or logits.shape[1] < 2:
        raise ValueError(
            "the model must return logits of shape (batch, n_classes) with n_classes >= 2 "
            f"(column 0 = signal); got {tuple(logits.shape)} for a batch of {len(x)}"
        )
    return int(logits.shape[1])


def _train_epoch(
    model: nn.Module, batches: Iterable[Any], optimizer: torch.optim.Optimizer, run: _Run
) -> float:
    """One pass of mini-batch updates; the mean training loss over all processes' samples."""
    model.train()
    losses: list[torch.Tensor] = []
    sizes: list[int] = []
    for x, y in batches:
        x, y = _to_device(x, y, run)
        with run.autocast():
            logits = model(x)
        _check_logits(logits, len(y), run.n_classes)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        sizes.append(len(y))
    if not losses:
        raise ValueError("the training data gave no mini-batch (a DataLoader with drop_last?)")
    weights = torch.tensor(sizes, dtype=torch.float32, device=run.device)
    totals = torch.stack([torch.stack(losses) @ weights, weights.sum()])
    if run.world > 1:
        dist.all_reduce(totals)
    return float(totals[0] / totals[1])


def _evaluate(
    module: nn.Module, batches: Iterable[Any], run: _Run
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (fp32, on the CPU) and labels of the whole validation set, every process's
    share gathered in rank order."""
    module.eval()
    logits, labels = [], []
    with torch.no_grad():
        for x, y in batches:
            x, y = _to_device(x, y, run)
            with run.autocast():
                out = module(x)
            _check_logits(out, len(y), run.n_classes)
            logits.append(out.float())
            labels.append(y)
    local = (  # a process may have no share of a tiny validation set
        torch.cat(logits).cpu() if logits else torch.zeros(0, run.n_classes),
        torch.cat(labels).cpu() if labels else torch.zeros(0, dtype=torch.long),
    )
    if run.world == 1:
        return local
    shares: list[Any] = [None] * run.world
    dist.all_gather_object(shares, local)
    return torch.cat([s[0] for s in shares]), torch.cat([s[1] for s in shares])


def _signal_auc(labels: np.ndarray, signal_score: np.ndarray) -> float:
    """AUC of signal (class 0) against the rest; NaN if only one of the two is present or a
    score is not finite (a diverged model).

    ``roc_curve`` + ``auc`` is how ``roc_auc_score`` computes it; called directly they skip
    part of its input checking, which costs a few ms per epoch."""
    is_signal = labels == 0
    if is_signal.all() or not is_signal.any() or not np.isfinite(signal_score).all():
        return float("nan")
    fpr, tpr, _ = roc_curve(is_signal, signal_score.astype(np.float64))
    return float(auc(fpr, tpr))


def _metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean cross-entropy, accuracy and signal AUC of a whole validation set."""
    signal_score = torch.softmax(logits, dim=1)[:, 0]
    return {
        "loss": F.cross_entropy(logits.double(), labels).item(),
        "accuracy": (logits.argmax(dim=1) == labels).double().mean().item(),
        "auc": _signal_auc(labels.numpy(), signal_score.numpy()),
    }


def _checkpoint(
    module: nn.Module, optimizer: torch.optim.Optimizer, name: str, history: History, run: _Run
) -> dict[str, Any]:
    return {
        "format": _CHECKPOINT_FORMAT,
        "epoch": history.epoch[-1],
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "optimizer_name": name.lower(),
        "history": history.to_dict(),
        "rng": _rng_state(run.device),
    }


def _describe(
    run: _Run, n_train: int, n_val: int, batch_size: int, optimizer: str, lr: float
) -> str:
    precision = "bf16 autocast" if run.amp else "fp32"
    procs = "1 process" if run.world == 1 else f"{run.world} processes (DDP, {dist.get_backend()})"
    batch = f"batch {batch_size}" if run.world == 1 else (
        f"batch {batch_size} per process ({batch_size * run.world} per step)"
    )
    return (
        f"fit: device {run.device} ({precision}), {procs}; {n_train} train / {n_val} val samples, "
        f"{batch}, {optimizer} lr {lr:g}"
    )


def fit(
    model: nn.Module,
    train: Data,
    val: Data,
    *,
    epochs: int,
    batch_size: int | None = None,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    patience: int | None = None,
    checkpoint: str | Path | None = None,
    resume_from: str | Path | None = None,
    restore_best: bool = True,
    seed: int = 0,
    shuffle: bool = True,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    num_workers: int = 0,
    verbose: bool = True,
) -> History:
    """Train ``model`` in place with mini-batch gradient descent; validate after every epoch.

    ``train``/``val``: Datasets of ``(x, y)``, y = class index (0 = signal), or DataLoaders
    (used as given; pass Datasets for exact resumption and under torchrun).
    ``epochs``: the total number of epochs, counting those of a resumed run.
    ``batch_size``: per process; default 256 for Datasets, a DataLoader's own otherwise.
    ``optimizer``: ``"adam"`` or ``"sgd"`` (with ``momentum``), ``lr``, ``weight_decay``.
    ``patience``: stop after this many epochs without a lower validation loss (None: never).
    ``checkpoint``: file written (rank 0) whenever the validation loss improves, with model,
    optimiser, epoch, history and RNG states; ``resume_from`` continues from such a file as
    if never interrupted (it re-runs any epochs after the best one, which is exact because
    the data order of an epoch depends on ``seed`` and the epoch only).
    ``restore_best``: end with the weights of the best epoch (else those of the last).
    ``seed``: of the data order; seed the weights with :func:`seed_everything` beforehand.
    ``device``: see :func:`pick_device`; ``amp``: bf16 autocast, default on CUDA only.
    ``verbose``: one plain-text line per epoch (rank 0 only).
    Returns the :class:`History`; the model stays on the device it was trained on.
    """
    epochs = _check_int("epochs", epochs, 1)
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size, 1)
    if patience is not None:
        patience = _check_int("patience", patience, 1)
    seed = _check_int("seed", seed, 0)
    num_workers = _check_int("num_workers", num_workers, 0)
    env = _torchrun_env()
    run_device = _fit_device(device, env[1] if env else None)
    if env:
        _init_process_group(run_device)
    run = _Run(
        device=run_device,
        dtype=_model_dtype(model),
        amp=_use_amp(amp, run_device),
        rank=dist.get_rank() if env else 0,
        world=dist.get_world_size() if env else 1,
        seed=seed,
        num_workers=num_workers,
    )
    return _fit(
        model, train, val, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, momentum=momentum, patience=patience, checkpoint=checkpoint,
        resume_from=resume_from, restore_best=restore_best, shuffle=shuffle, verbose=verbose,
        run=run,
    )


def _resolve_batch_size(train: Data, batch_size: int | None) -> int:
    if not isinstance(train, DataLoader):
        return DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if batch_size is not None and batch_size != train.batch_size:
        raise ValueError(
            f"batch_size={batch_size} differs from the DataLoader's batch_size={train.batch_size}; "
            "leave batch_size out or pass the Dataset"
        )
    return train.batch_size or 1


def _fit(
    model: nn.Module, train: Data, val: Data, *, epochs: int, batch_size: int | None,
    optimizer: str, lr: float, weight_decay: float, momentum: float, patience: int | None,
    checkpoint: str | Path | None, resume_from: str | Path | None, restore_best: bool,
    shuffle: bool, verbose: bool, run: _Run,
) -> History:
    if run.world > 1 and (isinstance(train, DataLoader) or isinstance(val, DataLoader)):
        raise ValueError("under torchrun, pass Datasets (not DataLoaders): fit shares them out")
    n_train, n_val = _length(train, "train"), _length(val, "val")
    batch_size = _resolve_batch_size(train, batch_size)
    log = print if verbose and run.rank == 0 else (lambda *args, **kwargs: None)

    module = _unwrap(model).to(run.device)
    run.n_classes = _probe_classes(module, train, run)
    for data, what in ((train, "train"), (val, "val")):
        tensors = None if isinstance(data, DataLoader) else _as_tensors(data)
        if tensors is not None:
            _check_labels(tensors.labels(), run.n_classes, what)

    history, state = History(), None
    if resume_from is not None:
        state = _read_checkpoint(resume_from, "cpu")  # load_state_dict moves it to the device
        if state["optimizer_name"] != str(optimizer).lower():
            raise ValueError(
                f"optimizer {optimizer!r} differs from the checkpoint's {state['optimizer_name']!r}"
            )
        module.load_state_dict(state["model"])
        history = History.from_dict(state["history"])
    trained = DistributedDataParallel(
        module, device_ids=[run.device.index] if run.device.type == "cuda" else None
    ) if run.world > 1 else module
    opt = make_optimizer(module.parameters(), optimizer, lr, weight_decay, momentum)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"], run.device)

    log(_describe(run, n_train, n_val, batch_size, str(optimizer).lower(), lr))
    if len(history):
        log(f"resumed from {resume_from} after epoch {history.epoch[-1]}")
    best_loss = history.val_loss[history.best_epoch - 1] if history.best_epoch else float("inf")
    best_state = _copy_state(module) if history.best_epoch else None
    history.stopped_early = False
    for epoch in range(len(history) + 1, epochs + 1):
        start = time.perf_counter()
        train_batches = _train_batches(train, epoch, batch_size, shuffle, run)
        train_loss = _train_epoch(trained, train_batches, opt, run)
        scores = _metrics(*_evaluate(module, _val_batches(val, batch_size, run), run))
        history.append(epoch, train_loss, scores, time.perf_counter() - start)
        improved = scores["loss"] < best_loss
        if improved:
            best_loss, history.best_epoch, best_state = scores["loss"], epoch, _copy_state(module)
            if checkpoint is not None and run.rank == 0:
                saved = _checkpoint(module, opt, str(optimizer), history, run)
                _save_atomically(saved, Path(checkpoint))
        log(_epoch_line(history, epochs, improved))
        if patience is not None and epoch - history.best_epoch >= patience:
            history.stopped_early = epoch < epochs
            break
    if restore_best and best_state is not None:
        module.load_state_dict(best_state)
    log(_final_line(history, patience, restore_best))
    if run.world > 1:
        dist.barrier()
    return history


def _copy_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _epoch_line(history: History, epochs: int, improved: bool) -> str:
    width = len(str(epochs))
    return (
        f"epoch {history.epoch[-1]:>{width}}/{epochs}  train loss {history.train_loss[-1]:.4f}  "
        f"val loss {history.val_loss[-1]:.4f}  acc {history.val_accuracy[-1]:.4f}  "
        f"AUC {history.val_auc[-1]:.4f}  {history.epoch_time[-1]:.1f} s"
        + ("  *best" if improved else "")
    )


def _final_line(history: History, patience: int | None, restore_best: bool) -> str:
    if not len(history):
        return "nothing to train"
    last = history.epoch[-1]
    if history.stopped_early:
        how = f"early stop after epoch {last} ({patience} epochs without a lower val loss)"
    else:
        how = f"done after epoch {last}"
    if not history.best_epoch:
        return f"{how}; the val loss was never finite"
    kept = "restored" if restore_best else "not restored (restore_best=False)"
    i = history.best_epoch - 1
    return (
        f"{how}; best epoch {history.best_epoch} (val loss {history.val_loss[i]:.4f}, "
        f"AUC {history.val_auc[i]:.4f}) {kept}"
    )


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------


def _input_batches(data: Any, batch_size: int) -> Iterator[Any]:
    """Input batches of a tensor/array of inputs, or of a Dataset/DataLoader of (x, y) or x."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        yield from data.split(batch_size)
        return
    tensors = None if isinstance(data, DataLoader) else _as_tensors(data)
    if tensors is not None:
        yield from (x for x, _ in _tensor_batches(tensors, torch.arange(len(data)), batch_size))
        return
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
    for item in loader:
        yield item[0] if isinstance(item, (tuple, list)) else item


def predict_proba(
    model: nn.Module, data: Any, device: str | torch.device | None = None, batch_size: int = 1024
) -> np.ndarray:
    """Class probabilities (softmax of the logits), shape ``(n_samples, n_classes)``, float32.

    ``data``: a tensor or array of inputs, or a Dataset/DataLoader of ``(x, y)`` (labels
    ignored) or of inputs. ``device``: default, where the model's parameters are (the model is
    moved there). Computed without gradients in eval mode; the model's mode is restored.
    Under torchrun every process predicts all of ``data``.
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    module = _unwrap(model)
    if device is not None:
        target = pick_device(device)
    else:
        target = next(module.parameters(), torch.empty(0)).device
    run = _Run(
        device=target, dtype=_model_dtype(module), amp=_use_amp(None, target), rank=0, world=1,
        seed=0, num_workers=0,
    )
    module.to(target)
    was_training = module.training
    module.eval()
    out = []
    with torch.no_grad():
        for x in _input_batches(data, batch_size):
            x, _ = _to_device(x, torch.zeros(0), run)
            with run.autocast():
                logits = module(x)
            if logits.ndim != 2 or logits.shape[0] != len(x):
                raise ValueError(
                    f"the model must return logits of shape (batch, n_classes); got "
                    f"{tuple(logits.shape)} for a batch of {len(x)}"
                )
            out.append(torch.softmax(logits.float(), dim=1).cpu())
    module.train(was_training)
    if not out:
        raise ValueError("data is empty; expected at least one sample to predict")
    return torch.cat(out).numpy()


def predict(
    model: nn.Module, data: Any, device: str | torch.device | None = None, batch_size: int = 1024
) -> np.ndarray:
    """Signal scores: the probability of class 0 (signal), shape ``(n_samples,)``, float32.

    The input of ROC curves and AUCs; arguments as for :func:`predict_proba`.
    """
    return predict_proba(model, data, device, batch_size)[:, 0]


# --------------------------------------------------------------------------------------------
# Self-test (also of a multi-GPU set-up): python -m e2e_tutorial.training --selftest
# --------------------------------------------------------------------------------------------


def _toy_problem(
    seed: int, n_train: int = 512, n_val: int = 256
) -> tuple[nn.Module, TensorDataset, TensorDataset]:
    """A small model and two linearly separable classes in 5 features (0 = signal)."""
    gen = np.random.default_rng(seed)
    w = gen.normal(size=5)

    def sample(n: int) -> TensorDataset:
        x = gen.normal(size=(n, 5)).astype(np.float32)
        y = (x @ w + 0.3 * gen.normal(size=n) < 0).astype(np.int64)
        return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))

    train, val = sample(n_train), sample(n_val)
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))
    return model, train, val


def selftest(
    batch_size: int = 16,
    epochs: int = 3,
    device: str | None = None,
    save: str | Path | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> dict[str, float]:
    """Train a toy problem with :func:`fit` (SGD, shuffled data) and report the outcome.

    The weights are those of the last epoch. Under torchrun it also checks that every
    process ends with the same weights. Returns ``{"world_size", "val_auc",
    "max_rank_difference"}``; with ``save``, rank 0 writes these and the final weights
    (``"state"``) to that file, for the tests.
    """
    model, train, val = _toy_problem(seed)
    history = fit(
        model, train, val, epochs=epochs, batch_size=batch_size, optimizer="sgd", lr=0.05,
        seed=seed, device=device, restore_best=False, verbose=verbose,
    )
    module = _unwrap(model)
    flat = torch.cat([p.detach().flatten() for p in module.parameters()])
    world, rank, difference = 1, 0, 0.0
    if dist.is_initialized():  # by fit, under torchrun
        world, rank = dist.get_world_size(), dist.get_rank()
        every = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(every, flat)
        difference = max(float((f - flat).abs().max()) for f in every)
    result = {
        "world_size": float(world),
        "val_auc": history.val_auc[-1],
        "max_rank_difference": difference,
    }
    if save is not None and rank == 0:
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        _save_atomically({**result, "state": state}, Path(save))
    if verbose and rank == 0:
        print(
            f"selftest: {world} process(es), val AUC {result['val_auc']:.4f}, "
            f"largest weight difference between processes {difference:g}"
        )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[torchrun ...] python -m e2e_tutorial.training --selftest``."""
    parser = argparse.ArgumentParser(
        prog="python -m e2e_tutorial.training",
        description="Self-test of the training loop; under torchrun, of DDP training too.",
    )
    parser.add_argument("--selftest", action="store_true", required=True, help="run the self-test")
    parser.add_argument("--batch-size", type=int, default=16, help="per process (default 16)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: automatic)")
    parser.add_argument("--save", default=None, help="file for the final weights (rank 0)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    result = selftest(args.batch_size, args.epochs, args.device, args.save, verbose=not args.quiet)
    ok = result["max_rank_difference"] == 0.0 and result["val_auc"] > 0.9
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
