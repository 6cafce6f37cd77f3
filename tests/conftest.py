import pytest
import torch

# One thread: quick for the small graphs of the unit tests, and deterministic.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
