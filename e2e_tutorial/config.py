"""Every size knob of the course, with a full-mode and a fast-mode value.

Full mode is what the book shows. Fast mode (environment variable ``E2E_FAST=1``, set by
``make test``) shrinks data, epochs and image sizes so that every notebook runs within
:data:`NOTEBOOK_BUDGET_S` seconds on a 2-core machine, which is what CI checks.

Notebooks start with::

    from e2e_tutorial import config
    cfg = config.show("epochs", "batch_size")   # prints the mode and these settings

and read every size from ``cfg``, never from a number typed into the notebook.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

__all__ = [
    "FAST_ENV",
    "NOTEBOOK_BUDGET_S",
    "TEST_BUDGET_MIN",
    "BOOK_BUDGET_MIN",
    "Settings",
    "FULL",
    "FAST",
    "fast_mode",
    "current",
    "show",
]

#: Name of the environment variable that selects fast mode.
FAST_ENV = "E2E_FAST"

#: Wall-clock budget of one notebook in fast mode, seconds, on the 2-core reference machine
#: (enforced by the test harness; a notebook may raise its own in metadata ``e2e.time_budget_s``).
NOTEBOOK_BUDGET_S = 120.0

#: ``make test`` on a clean clone, set-up included, minutes (2-core reference machine).
TEST_BUDGET_MIN = 20

#: ``make book`` on a clean clone, data generation and full-mode training included, minutes.
BOOK_BUDGET_MIN = 60

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """The size knobs of one mode. Every chapter reads its sizes from here."""

    mode: str
    #: Selected events per process (H->gammagamma, gammagamma, gamma+jet) for training.
    events_per_process: int
    #: Events per process shown one by one (event displays, single-event widgets).
    display_events: int
    #: Training epochs of the fully-connected (kinematic) networks.
    epochs_fcn: int
    #: Training epochs of the convolutional networks.
    epochs_cnn: int
    #: Mini-batch size.
    batch_size: int
    #: Side of the square photon-centred crop, in ECAL crystals.
    crop_size: int
    #: Full event images are summed over blocks of this many crystals per side (1 = 170 x 360).
    image_downsample: int
    #: Whole-event images of chapter 5 are summed over blocks of this many crystals per side
    #: (5 = 3 x 34 x 72, one pixel per HCAL tower); full resolution needs a GPU to train on.
    event_image_downsample: int
    #: Most training epochs of the image networks of chapter 5 (the case study).
    epochs_case_study: int
    #: Chapter 5 stops training a network after this many epochs without a lower validation loss.
    patience: int
    #: Bootstrap resamplings for uncertainties on AUC and background rejection.
    bootstrap: int
    #: Master random seed (event generation, weight initialisation, data splits).
    seed: int

    @property
    def fast(self) -> bool:
        return self.mode == "fast"


FULL = Settings(
    mode="full",
    events_per_process=6_000,
    display_events=50,
    epochs_fcn=30,
    epochs_cnn=15,
    batch_size=256,
    crop_size=32,
    image_downsample=1,
    event_image_downsample=5,
    epochs_case_study=15,
    patience=5,
    bootstrap=200,
    seed=2021,
)

FAST = Settings(
    mode="fast",
    events_per_process=600,
    display_events=5,
    epochs_fcn=3,
    epochs_cnn=2,
    batch_size=64,
    crop_size=16,
    image_downsample=5,
    event_image_downsample=5,
    epochs_case_study=8,
    patience=3,
    bootstrap=20,
    seed=2021,
)


def fast_mode() -> bool:
    """True when ``E2E_FAST`` asks for fast mode (``1``/``true``/``yes``/``on``).

    Raises ``ValueError`` for any other value than those or ``0``/``false``/``no``/``off``/empty,
    so that a typo cannot silently select full mode.
    """
    raw = os.environ.get(FAST_ENV, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{FAST_ENV}={raw!r} is not understood; expected 1/true/yes/on for fast mode "
        f"or 0/false/no/off (or unset) for full mode"
    )


def current() -> Settings:
    """The settings of the mode selected now by ``E2E_FAST``."""
    return FAST if fast_mode() else FULL


def show(*names: str) -> Settings:
    """Print the mode and the named settings (all of them if none is named); return the settings.

    Every notebook calls this in its first code cell, naming the knobs it uses.
    """
    cfg = current()
    fields = [f.name for f in dataclasses.fields(Settings) if f.name != "mode"]
    unknown = [n for n in names if n not in fields]
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; the settings are {fields}")
    if cfg.fast:
        print(f"Mode: fast ({FAST_ENV}=1): small data, few epochs, for tests and quick looks.")
    else:
        print(f"Mode: full ({FAST_ENV} unset): the sizes the book shows.")
    chosen = list(names) if names else fields
    other = FULL if cfg.fast else FAST
    for name in chosen:
        print(f"  {name:<20} = {getattr(cfg, name)!s:<8} ({other.mode} mode: {getattr(other, name)})")
    return cfg
