"""Confidence and prediction bands of the fitted curve (FitResult.eval_uncertainty and the band
columns of ``curvefit fit --output``) against lmfit's ModelResult.eval_uncertainty and against
numpy's own delta method: the Jacobian from analytic derivatives, the covariance from it, Student's
t from scipy. Every mode gives the same band."""
import json
import subprocess

import numpy as np
import pytest
from scipy import stats

import curvefit
from conftest import exp_decay

lmfit = pytest.importorskip("lmfit")

TIGHT = dict(ftol=1e-15, xtol=1e-15, gtol=1e-15)


def quadratic(x, a, b, c):
    return a + b * x + c * x ** 2


def test_eval_uncertainty_equals_lmfit_for_a_model_linear_in_its_parameters(rng):
    # lmfit differentiates by central differences, exact for a model linear in its parameters.
    x = np.linspace(0, 10, 400)
    y = quadratic(x, 1.0, 0.5, -0.03) + 0.1 * rng.standard_normal(x.size)
    ours = curvefit.fit((x, y), "a + b*x + c*x^2", p0=dict(a=0, b=0, c=0), **TIGHT)
    theirs = lmfit.Model(quadratic).fit(y, x=x, a=0, b=0, c=0, fit_kws=dict(ftol=1e-15, xtol=1e-15, gtol=1e-15))
    for name in "abc":
        assert ours.params[name] == pytest.approx(theirs.params[name].value, rel=1e-9)
    grid = np.linspace(-2, 12, 57)
    # numpy's reference without J^T J: se = sqrt(s2) ||R^-T g|| from the QR of J.
    J = np.column_stack([np.ones_like(x), x, x ** 2])
    Q, R = np.linalg.qr(J)
    p = np.linalg.solve(R, Q.T @ y)
    s2 = np.sum((J @ p - y) ** 2) / (x.size - 3)
    G = np.column_stack([np.ones_like(grid), grid, grid ** 2])
    se = np.sqrt(s2) * np.linalg.norm(np.linalg.solve(R.T, G.T), axis=0)
    for level in (0.95, 0.6827):
        ref = stats.t.ppf(0.5 + 0.5 * level, x.size - 3) * se
        assert ours.eval_uncertainty(grid, level=level) == pytest.approx(ref, rel=1e-12)
        # lmfit sums g_i g_j C_ij with C from the inverse of J^T J: where the band is narrowest that
        # sum cancels, and lmfit is 1e-8 off the QR reference there (ours is within 1e-13).
        assert ours.eval_uncertainty(grid, level=level) == pytest.approx(
            theirs.eval_uncertainty(x=grid, sigma=level), rel=3e-8)


def test_eval_uncertainty_is_close_to_lmfit_for_a_weighted_exponential(rng):
    x = np.linspace(0, 4, 500)
    s = 0.02 + 0.02 * rng.random(x.size)
    y = exp_decay(x, 2.5, 1.3, 0.5) + s * rng.standard_normal(x.size)
    ours = curvefit.fit((x, y, s), "exponential", **TIGHT)
    theirs = lmfit.Model(exp_decay).fit(y, x=x, a=2, b=1, c=0, weights=1 / s,
                                        fit_kws=dict(ftol=1e-15, xtol=1e-15, gtol=1e-15))
    grid = np.linspace(-0.5, 5, 40)
    # lmfit's central differences (step stderr / 3) are accurate to about 1e-6 here.
    assert ours.eval_uncertainty(grid) == pytest.approx(theirs.eval_uncertainty(x=grid, sigma=0.95), rel=1e-5)


def numpy_bands(x, s, params, dof, chi2, columns, absolute_sigma, at_x, at_s, level=0.95):
    """Half-widths of the confidence and prediction bands at at_x by numpy's own delta method."""
    a, b, c = params["a"], params["b"], params["c"]

    def gradients(t):
        e = np.exp(-b * t)
        return np.column_stack([e, -a * t * e, np.ones_like(t)])[:, columns]

    J = gradients(x) / s[:, None]
    s2 = 1.0 if absolute_sigma else chi2 / dof
    C = s2 * np.linalg.inv(J.T @ J)
    G = gradients(at_x)
    variance = np.einsum("ij,jk,ik->i", G, C, G)
    t = stats.t.ppf(0.5 + 0.5 * level, dof)
    return t * np.sqrt(variance), t * np.sqrt(variance + s2 * at_s ** 2)


@pytest.mark.parametrize("variant", ["scaled", "absolute_sigma", "fixed_c"])
def test_output_bands_equal_numpy_in_every_mode(cli, rng, tmp_path, variant):
    x = np.linspace(0, 4, 3000)
    s = 0.02 + 0.01 * rng.random(x.size)
    y = exp_decay(x, 2.5, 1.3, 0.5) + s * rng.standard_normal(x.size)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([x, y, s]), delimiter=",", header="x,y,s", comments="", fmt="%.17g")
    extra = {"scaled": [], "absolute_sigma": ["--absolute-sigma"], "fixed_c": ["--fix", "c=0.5"]}[variant]
    columns = [0, 1] if variant == "fixed_c" else [0, 1, 2]
    first = None
    for mode in ("memory", "chunked", "stream"):
        out = tmp_path / f"fit-{mode}.csv"
        report = json.loads(subprocess.run(
            [cli, "fit", str(path), "--model", "exponential", "--sigma", "s", "--json", "--output", str(out),
             "--mode", mode, "--chunk-size", "700", "--ftol", "1e-15", "--xtol", "1e-15", "--gtol", "1e-15", *extra],
            capture_output=True, text=True, check=True).stdout)
        params = {p["name"]: p["value"] for p in report["params"]}
        written = np.genfromtxt(out, delimiter=",", names=True)
        assert written.dtype.names == ("x", "y", "fit", "residual", "fit_lower95", "fit_upper95", "pred_lower95",
                                       "pred_upper95")
        fit = exp_decay(x, params["a"], params["b"], params["c"])
        chi2 = np.sum(((fit - y) / s) ** 2)
        want_fit, want_pred = numpy_bands(x, s, params, report["dof"], chi2, columns, variant == "absolute_sigma", x, s)
        assert written["fit_upper95"] - written["fit"] == pytest.approx(want_fit, rel=1e-8)
        assert written["fit"] - written["fit_lower95"] == pytest.approx(want_fit, rel=1e-8)
        assert written["pred_upper95"] - written["fit"] == pytest.approx(want_pred, rel=1e-8)
        assert written["fit"] - written["pred_lower95"] == pytest.approx(want_pred, rel=1e-8)
        if first is None:
            first = written
        else:  # the modes' parameters agree to ~1e-10, their bands to far better than 1e-8
            assert written["fit_upper95"] == pytest.approx(first["fit_upper95"], rel=1e-8)
            assert written["pred_lower95"] == pytest.approx(first["pred_lower95"], rel=1e-8)
        # The Python module's band for the same fit.
        ours = curvefit.fit(str(path), "exponential", sigma="s", mode=mode, chunk_size=700,
                            absolute_sigma=variant == "absolute_sigma",
                            fix={"c": 0.5} if variant == "fixed_c" else None, **TIGHT)
        grid = np.linspace(-1, 5, 31)
        want, _ = numpy_bands(x, s, ours.params, ours.dof, ours.chi2, columns, variant == "absolute_sigma",
                              grid, np.ones_like(grid))
        assert ours.eval_uncertainty(grid) == pytest.approx(want, rel=1e-8)


def test_eval_uncertainty_rejects_a_level_outside_0_1(rng):
    x = np.linspace(0, 4, 100)
    r = curvefit.fit((x, exp_decay(x, 2.5, 1.3, 0.5) + 0.01 * rng.standard_normal(x.size)), "exponential")
    with pytest.raises(ValueError, match="level"):
        r.eval_uncertainty(x, level=1.5)
