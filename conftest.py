"""Repository-wide pytest set-up: the per-notebook time budget for nbval runs (tests/notebook_budget.py)."""

pytest_plugins = ["tests.notebook_budget"]
