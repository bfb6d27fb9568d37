"""--cov hc0/hc1 (robust): the sandwich covariance against numpy's own computation from the
analytic Jacobian at the fitted parameters, in every mode, weighted and not."""
import numpy as np
import pytest

import curvefit
from conftest import exp_decay


def numpy_sandwich(x, y, s, a, b, c, hc1):
    e = np.exp(-b * x)
    J = np.column_stack([e, -a * x * e, np.ones_like(x)]) / s[:, None]
    f = (exp_decay(x, a, b, c) - y) / s
    bread = np.linalg.inv(J.T @ J)
    meat = (J * f[:, None] ** 2).T @ J
    cov = bread @ meat @ bread
    return cov * (x.size / (x.size - 3) if hc1 else 1.0)


@pytest.mark.parametrize("kind", ["hc0", "hc1", "robust"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sandwich_equals_numpy(rng, tmp_path, kind, weighted):
    x = np.linspace(0, 4, 3000)
    # Heteroscedastic noise: the spread grows with x, which the standard covariance ignores.
    y = exp_decay(x, 2.5, 1.3, 0.5) + (0.01 + 0.05 * x) * rng.standard_normal(x.size)
    s = 0.02 + 0.01 * rng.random(x.size) if weighted else np.ones_like(x)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([x, y, s]), delimiter=",", header="x,y,s", comments="", fmt="%.17g")
    for mode in ("memory", "chunked", "stream"):
        r = curvefit.fit(str(path), "exponential", sigma="s" if weighted else None, mode=mode, chunk_size=500, cov=kind)
        p = r.params
        want = numpy_sandwich(x, y, s, p["a"], p["b"], p["c"], kind != "hc0")
        assert np.allclose(r.covariance, want, rtol=1e-7, atol=0), (mode, r.covariance, want)
        assert [r.stderr[k] for k in "abc"] == pytest.approx(np.sqrt(np.diag(want)), rel=1e-7)
        assert r.to_dict()["covariance_kind"] == ("hc0" if kind == "hc0" else "hc1")
        assert "sandwich" in str(r)
    standard = curvefit.fit(str(path), "exponential", sigma="s" if weighted else None)
    assert standard.stderr["c"] != pytest.approx(r.stderr["c"], rel=1e-2)  # it does differ here


def test_cli_cov_option(cli, rng, tmp_path):
    import json
    import subprocess
    x = np.linspace(0, 4, 200)
    y = exp_decay(x, 2.5, 1.3, 0.5) + 0.05 * rng.standard_normal(x.size)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="x,y", comments="", fmt="%.17g")
    out = json.loads(subprocess.run([cli, "fit", str(path), "--model", "exponential", "--cov", "robust", "--json"],
                                    capture_output=True, text=True, check=True).stdout)
    p = {q["name"]: q["value"] for q in out["params"]}
    want = numpy_sandwich(x, y, np.ones_like(x), p["a"], p["b"], p["c"], True)
    assert np.allclose(np.array(out["covariance"]), want, rtol=1e-7, atol=0)
    bad = subprocess.run([cli, "fit", str(path), "--model", "exponential", "--cov", "hc3"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--cov" in bad.stderr
