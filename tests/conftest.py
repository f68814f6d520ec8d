"""Shared pytest set-up: a non-interactive matplotlib backend, fixed seeds, and hypothesis
examples that are random locally (to explore) but fixed in CI (to be reproducible)."""

import os

import matplotlib
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
