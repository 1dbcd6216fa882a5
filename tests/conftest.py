"""Fixtures shared by the unit tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tests' tensors are tiny: one torch thread is fastest and does not spin against other
    jobs on a busy 2-core machine (two threads stalled tiny epochs 10-50x there). Restored after
    each module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
