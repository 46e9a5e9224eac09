import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from pipeline_utils import TINY, run_ok  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole DAG on the tiny config, once per test session."""
    d = tmp_path_factory.mktemp("tiny")
    run_ok("--configfile", TINY, "--cores", "2", "--directory", d)
    return d
