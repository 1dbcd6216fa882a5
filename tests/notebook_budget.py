"""pytest plugin: a wall-clock budget per notebook run under nbval.

nbval makes every notebook cell one pytest item and limits single cells only. This plugin adds
up the time of every phase of every cell of a notebook (the kernel start-up in the first
cell's set-up and its shutdown in the last one's teardown included) and fails the cell at
which the notebook goes over its budget, naming the notebook and its measured time.

The budget is :data:`e2e_tutorial.config.NOTEBOOK_BUDGET_S` by default, ``--notebook-budget``
on the command line, or a notebook's own metadata ``{"e2e": {"time_budget_s": 180}}`` (which
wins). It is enforced in fast mode (``E2E_FAST=1``) or whenever ``--notebook-budget`` is given;
in full mode without the option the times are only reported.

Loaded by the repository's ``conftest.py``; elsewhere with ``-p tests.notebook_budget``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_tutorial import config

_TIMES = pytest.StashKey[dict]()


@dataclass
class _NotebookClock:
    budget_s: float | None
    elapsed_s: float = 0.0
    failed: bool = False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--notebook-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "wall-clock budget of one notebook under nbval, seconds "
            f"(default {config.NOTEBOOK_BUDGET_S:g} in fast mode; notebook metadata "
            "e2e.time_budget_s overrides it)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMES] = {}


def notebook_budget(path: Path, default: float | None) -> float | None:
    """The budget of one notebook: its metadata ``e2e.time_budget_s`` if set, else ``default``."""
    metadata = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    value = metadata.get("e2e", {}).get("time_budget_s")
    if value is None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"{path}: metadata e2e.time_budget_s must be a positive number of seconds; got {value!r}"
        )
    return float(value)


def _default_budget(pytest_config: pytest.Config) -> float | None:
    option = pytest_config.getoption("--notebook-budget")
    if option is not None:
        return option
    return config.NOTEBOOK_BUDGET_S if config.fast_mode() else None


def _notebook_path(item: pytest.Item) -> Path | None:
    parent = item.parent
    if parent is None or type(parent).__name__ != "IPyNbFile":  # nbval's notebook collector
        return None
    return Path(parent.path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    path = _notebook_path(item)
    if path is None:
        return
    clocks: dict[Path, _NotebookClock] = item.config.stash[_TIMES]
    if path not in clocks:
        clocks[path] = _NotebookClock(notebook_budget(path, _default_budget(item.config)))
    clock = clocks[path]
    clock.elapsed_s += call.duration
    report = outcome.get_result()
    if clock.budget_s is not None and clock.elapsed_s > clock.budget_s and not clock.failed:
        clock.failed = True
        report.outcome = "failed"
        report.longrepr = (
            f"notebook {path.name} took {clock.elapsed_s:.1f} s by this cell, over its "
            f"time budget of {clock.budget_s:g} s in fast mode ({path}); shrink its fast-mode "
            f"settings in e2e_tutorial.config, or raise metadata e2e.time_budget_s with a reason"
        )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    clocks: dict[Path, _NotebookClock] = config.stash.get(_TIMES, {})
    if not clocks:
        return
    terminalreporter.section("notebook times")
    for path, clock in sorted(clocks.items()):
        budget = "no budget" if clock.budget_s is None else f"budget {clock.budget_s:g} s"
        verdict = "OVER BUDGET" if clock.failed else "ok"
        terminalreporter.write_line(f"{clock.elapsed_s:7.1f} s  {budget:<14} {verdict:<11} {path}")
