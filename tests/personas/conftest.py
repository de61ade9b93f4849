"""Fixtures of the personas test area."""
from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Decode on one thread during the test. This 2-core box is shared: with torch's default two
    threads, each spin-waits for the other whenever the scheduler parks it, and the embedded-model
    test took ~170 s instead of ~35 s under a load average of 13. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
