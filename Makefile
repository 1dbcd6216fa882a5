# Two commands build and check the whole course (see README.md):
#   make book   set up .venv, build the HTML book with every notebook executed (full mode)
#   make test   set up .venv, run the unit tests and every notebook under nbval (fast mode)

SHELL  := /bin/bash
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.e2e-installed

.PHONY: help env data samples book test clean

help:
	@echo "make book   build the HTML book into _build/html (full mode, notebooks executed)"
	@echo "make test   unit tests + nbval over every notebook (fast mode, E2E_FAST=1)"
	@echo "make data   generate the full-mode datasets into data/generated (make book does it)"
	@echo "make samples  remake the committed fast-mode samples in data/samples"
	@echo "make env    only create/update the virtual environment $(VENV)"
	@echo "make clean  remove _build (keeps $(VENV))"

env: $(STAMP)

# Re-runs only when the pins or the package metadata change; a second `make` reuses .venv.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else \
	  f"$(VENV) runs Python {v[0]}.{v[1]}; the course needs 3.11. Remove $(VENV) and run make with PYTHON=/path/to/python3.11")'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --editable .
	@touch $@

# Full-mode datasets (git-ignored): made once, verified against their manifests afterwards.
data: $(STAMP)
	env -u E2E_FAST $(BIN)/python -m e2e_tutorial.datasets course

# The small committed samples that fast mode (make test) reads. Run after changing the chain.
samples: $(STAMP)
	E2E_FAST=1 $(BIN)/python -m e2e_tutorial.datasets course --force

# The book is always built in full mode (_config.yml re-executes every notebook on every build).
# -W turns Sphinx warnings into errors; the grep also catches warnings printed by kernels and
# libraries while the notebooks execute, which Sphinx does not see. One line is let through:
# jupyter_client interrupts every kernel just before shutting it down, and when the SIGINT lands
# while the kernel is still handling a message, ipykernel logs "KeyboardInterrupt caught in
# kernel" (a race in the shutdown, seen intermittently, after all cells have run).
BENIGN := \[IPKernelApp\] ERROR \| KeyboardInterrupt caught in kernel\.$$
book: $(STAMP) data
	@mkdir -p _build
	set -o pipefail; env -u E2E_FAST $(BIN)/jupyter-book build . -W --keep-going 2>&1 | tee _build/book.log
	@! grep -E "WARNING|ERROR" _build/book.log | grep -vE "$(BENIGN)" || { echo "the build printed the warnings above (log: _build/book.log)"; exit 1; }
	@test -f _build/html/index.html || { echo "no _build/html/index.html: the build made no HTML"; exit 1; }
	@echo "Book: $(CURDIR)/_build/html/index.html"

test: $(STAMP)
	E2E_FAST=1 $(BIN)/python -m pytest tests book --nbval-lax --nbval-current-env --nbval-cell-timeout=600

clean:
	rm -rf _build .pytest_cache
