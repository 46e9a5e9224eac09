import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
