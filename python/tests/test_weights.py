"""--weights COL (w = 1/sigma^2): the fit of sigma = 1/sqrt(w), in every mode, from the command
line and Python; weight 0 rows are dropped under nan_policy omit."""
import json
import subprocess

import numpy as np
import pytest

import curvefit
from conftest import exp_decay


@pytest.fixture
def weighted_csv(rng, tmp_path):
    x = np.linspace(0, 4, 2000)
    s = 0.02 + 0.05 * rng.random(x.size)
    y = exp_decay(x, 2.5, 1.3, 0.5) + s * rng.standard_normal(x.size)
    w = 1 / s**2
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([x, y, s, w]), delimiter=",", header="x,y,s,w", comments="", fmt="%.17g")
    return path, x, y, s, w


def test_weights_give_the_fit_of_their_sigma_in_every_mode(weighted_csv):
    path = weighted_csv[0]
    for mode in ("memory", "chunked", "stream"):
        by_sigma = curvefit.fit(str(path), "exponential", sigma="s", mode=mode, chunk_size=300)
        by_weight = curvefit.fit(str(path), "exponential", weights="w", mode=mode, chunk_size=300)
        assert by_weight.params == pytest.approx(by_sigma.params, rel=1e-10)
        assert np.allclose(by_weight.covariance, by_sigma.covariance, rtol=1e-8, atol=0)
        assert by_weight.chi2 == pytest.approx(by_sigma.chi2, rel=1e-10)
        assert by_weight.to_dict()["columns"]["weights"] == "w"
        assert by_weight.to_dict()["columns"]["sigma"] is None


def test_cli_weights_and_arrays(cli, weighted_csv):
    path, x, y, s, w = weighted_csv
    run = subprocess.run([cli, "fit", str(path), "--model", "exponential", "--weights", "w", "--json"],
                         capture_output=True, text=True, check=True)
    out = json.loads(run.stdout)
    arrays = curvefit.fit((x, y), "exponential", weights=w)
    assert {p["name"]: p["value"] for p in out["params"]} == pytest.approx(arrays.params, rel=1e-10)
    report = subprocess.run([cli, "fit", str(path), "--model", "exponential", "--weights", "w"],
                            capture_output=True, text=True, check=True).stdout
    assert "weights = w (sigma = 1/sqrt(w))" in report
    both = subprocess.run([cli, "fit", str(path), "--model", "exponential", "--weights", "w", "--sigma", "s"],
                          capture_output=True, text=True)
    assert both.returncode == 2 and "--weights" in both.stderr


def test_weight_zero_rows_are_dropped_under_omit(tmp_path, weighted_csv):
    _, x, y, s, w = weighted_csv
    w = w.copy()
    w[::7] = 0
    path = tmp_path / "z.csv"
    np.savetxt(path, np.column_stack([x, y, w]), delimiter=",", header="x,y,w", comments="", fmt="%.17g")
    with pytest.raises(curvefit.DataError):
        curvefit.fit(str(path), "exponential", weights="w")
    kept = w > 0
    r = curvefit.fit(str(path), "exponential", weights="w", nan_policy="omit")
    ref = curvefit.fit((x[kept], y[kept], s[kept]), "exponential")
    assert r.n_points == kept.sum()
    assert r.params == pytest.approx(ref.params, rel=1e-9)
