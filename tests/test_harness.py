"""The test harness can fail: small fixture notebooks, written outside book/, run under nbval
with the notebook-budget plugin in a separate pytest process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from tests.notebook_budget import notebook_budget

ROOT = Path(__file__).resolve().parents[1]


def _write_notebook(path: Path, *cells: str, budget_s: float | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if budget_s is not None:
        nb.metadata["e2e"] = {"time_budget_s": budget_s}
    nbformat.write(nb, path)
    return path


def _run_nbval(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), E2E_FAST="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.notebook_budget", "-p", "no:cacheprovider",
         "--nbval-lax", "--nbval-current-env", "-rA", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def _outcomes(output: str) -> dict[str, str]:
    """Map 'notebook.ipynb::Cell N' -> PASSED/FAILED/ERROR from pytest's -rA summary."""
    return {
        m.group(2): m.group(1)
        for m in re.finditer(r"^(PASSED|FAILED|ERROR) (\S+::Cell \d+)", output, re.MULTILINE)
    }


@pytest.fixture(scope="module")
def harness_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """One pytest run over four fixture notebooks (one kernel each, so run them once)."""
    tmp = tmp_path_factory.mktemp("fixture_notebooks")
    _write_notebook(tmp / "passing.ipynb", "x = 6 * 7", "assert x == 42", budget_s=60)
    _write_notebook(tmp / "failing.ipynb", "x = 6 * 7", "assert x == 41, 'wrong answer'",
                    budget_s=60)
    _write_notebook(tmp / "slow.ipynb", "import time\ntime.sleep(4)", "y = 1", budget_s=2.5)
    # The command-line budget (1 s) is far too small; the notebook's own metadata must win.
    _write_notebook(tmp / "generous.ipynb", "import time\ntime.sleep(1.5)", budget_s=60)
    result = _run_nbval(tmp, "--notebook-budget", "1", ".")
    return result, _outcomes(result.stdout)


def test_failing_assertion_fails_the_run(harness_run):
    result, outcomes = harness_run
    assert result.returncode == 1, result.stdout[-3000:]
    assert outcomes["failing.ipynb::Cell 1"] == "FAILED"
    assert "wrong answer" in result.stdout
    assert outcomes["failing.ipynb::Cell 0"] == "PASSED"


def test_passing_notebook_passes(harness_run):
    _, outcomes = harness_run
    assert outcomes["passing.ipynb::Cell 0"] == "PASSED"
    assert outcomes["passing.ipynb::Cell 1"] == "PASSED"


def test_notebook_over_budget_fails_naming_itself_and_its_time(harness_run):
    result, outcomes = harness_run
    assert outcomes["slow.ipynb::Cell 0"] == "FAILED", result.stdout[-3000:]
    match = re.search(r"notebook slow\.ipynb took ([\d.]+) s by this cell, over its time budget "
                      r"of 2\.5 s", result.stdout)
    assert match, result.stdout[-3000:]
    assert float(match.group(1)) >= 4.0  # it slept 4 s
    assert "OVER BUDGET" in result.stdout  # the summary table names it too


def test_metadata_budget_overrides_command_line(harness_run):
    _, outcomes = harness_run
    assert outcomes["generous.ipynb::Cell 0"] == "PASSED"


def test_budget_metadata_is_validated(tmp_path: Path):
    good = _write_notebook(tmp_path / "good.ipynb", "pass", budget_s=30)
    assert notebook_budget(good, default=120.0) == 30.0
    plain = _write_notebook(tmp_path / "plain.ipynb", "pass")
    assert notebook_budget(plain, default=120.0) == 120.0
    bad = _write_notebook(tmp_path / "bad.ipynb", "pass", budget_s=-5)
    with pytest.raises(ValueError, match=r"time_budget_s must be a positive number.*-5"):
        notebook_budget(bad, default=120.0)


def test_structural_build_catches_a_broken_reference(tmp_path: Path):
    """A copy of the book with an undefined citation must fail the -W build."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "book", tmp_path / "book")
    intro = tmp_path / "book" / "intro.md"
    intro.write_text(intro.read_text() + "\nSee {cite}`no_such_paper_1999`.\n")
    cfg = yaml.safe_load((tmp_path / "_config.yml").read_text())
    cfg["execute"]["execute_notebooks"] = "off"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(cfg))
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(tmp_path), "-W", "--keep-going"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "no_such_paper_1999" in result.stdout + result.stderr
