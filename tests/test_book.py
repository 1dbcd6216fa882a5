"""Hygiene of the book: notebooks clean and following the chapter template, the table of
contents in step with the files, pins exact, and a structural build without warnings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.rglob("*.ipynb"))
PAGES = sorted(BOOK.rglob("*.md"))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def _toc_files(node) -> list[str]:
    """Every ``file:`` entry of a jb-book table of contents, in order, recursively."""
    found = []
    if isinstance(node, dict):
        if "file" in node:
            found.append(node["file"])
        if "root" in node:
            found.append(node["root"])
        for value in node.values():
            if isinstance(value, (dict, list)):
                found.extend(_toc_files(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_toc_files(value))
    return found


def _code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_notebooks_to_check():
    assert NOTEBOOKS, f"no notebooks found under {BOOK}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_committed_without_outputs(path: Path):
    dirty = [i for i, c in enumerate(_code_cells(path)) if c.outputs or c.execution_count]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs or execution counts; clear them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_valid_and_runs_python3(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_follows_the_chapter_template(path: Path):
    """CONTRIBUTING.md: title, objectives, setup cell printing the mode, summary, exercises,
    and a closing assertion."""
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), (
        f"{path.name}: the first cell must be the chapter title ('# ...')"
    )
    # The objectives are an admonition in the title cell, so that the numbered sections of
    # the chapter keep the seminar's numbering.
    assert "{admonition} Learning objectives" in nb.cells[0].source, (
        f"{path.name}: the title cell must hold a 'Learning objectives' admonition"
    )
    for heading in ("Summary", "Exercises"):
        assert re.search(rf"^## {heading}", markdown, re.MULTILINE), (
            f"{path.name}: no '## {heading}' section"
        )
    code = _code_cells(path)
    assert code and "config.show(" in code[0].source, (
        f"{path.name}: the first code cell must print the mode with config.show(...)"
    )
    assert re.search(r"^\s*assert\b", code[-1].source, re.MULTILINE), (
        f"{path.name}: the last code cell must assert the outcome the chapter showed"
    )


def test_toc_and_files_on_disk_agree():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = _toc_files(toc)
    duplicates = {f for f in listed if listed.count(f) > 1}
    assert not duplicates, f"_toc.yml lists these more than once: {sorted(duplicates)}"
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS + PAGES}
    missing_files = [f for f in listed if Path(f).with_suffix("").as_posix() not in on_disk]
    assert not missing_files, f"_toc.yml lists files that do not exist: {missing_files}"
    unlisted = sorted(on_disk - {Path(f).with_suffix("").as_posix() for f in listed})
    assert not unlisted, f"these pages are not in _toc.yml (the build would skip them): {unlisted}"


def test_requirements_are_exact_pins():
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    loose = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+\-]+", line)]
    assert not loose, f"requirements.txt entries without an exact pin: {loose}"
    pins = dict(line.split("==") for line in lines)
    assert pins.get("jupyter-book", "").startswith("1."), "Jupyter Book must stay at 1.x"
    assert pins.get("torch") == "2.13.0"
    assert pins.get("pythia8mc") == "8.317.2"


def test_structural_build_has_no_warnings(tmp_path: Path):
    """Build the HTML with execution off and warnings as errors: a broken reference, a page
    missing from the toc or bad MyST fails here in seconds, before any notebook runs."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg["execute"]["execute_notebooks"] = "off"
    config_path = tmp_path / "_config.yml"
    config_path.write_text(yaml.safe_dump(cfg))
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--config", str(config_path),
         "--path-output", str(tmp_path / "out"), "-W", "--keep-going"],
        capture_output=True, text=True, timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"structural book build failed:\n{log[-6000:]}"
    assert not re.search(r"WARNING|ERROR", log), f"the build printed warnings:\n{log[-6000:]}"
    html = tmp_path / "out" / "_build" / "html"
    assert (html / "index.html").is_file()
    for path in NOTEBOOKS + PAGES:
        page = html / path.relative_to(ROOT).with_suffix(".html")
        assert page.is_file(), f"no HTML page for {path.relative_to(ROOT)}"
