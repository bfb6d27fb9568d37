"""Shared fixtures: the command-line binary (for JSON comparisons) and noisy data of known truth."""
import os
import shutil

import numpy as np
import pytest


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("CURVEFIT_BINARY") or shutil.which("curvefit")
    if not path or not os.path.exists(path):
        pytest.fail("CURVEFIT_BINARY is not set to the curvefit executable")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(20260101)


def gaussian(x, a, mu, sigma):
    return a * np.exp(-((x - mu) ** 2) / (2 * sigma ** 2))


def exp_decay(x, a, b, c):
    return a * np.exp(-b * x) + c


def plane(x, a, b, c):
    return a * x[0] + b * x[1] + c
