"""Shared test settings: hypothesis runs derandomized so every run checks the same
cases; `one_thread` for modules of tiny networks."""

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dlbook",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dlbook")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks: one thread avoids thread contention on a busy machine.
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
