"""Every built-in model against scipy: data from `curvefit generate` (noise 0.01), fitted by the
command line with each method and mode, and by scipy's curve_fit on the model's own formula text
(translated to numpy) from the same point. Parameters agree to 1e-5 relative or to 1e-3 standard
errors, standard errors to 1e-3 relative. The model list comes from `curvefit models --json`, so a
new model is covered without a new test."""
import json
import re
import subprocess
import warnings

import numpy as np
import pytest
from scipy.optimize import curve_fit
from scipy.special import erf, erfc, voigt_profile

NUMPY_NAMES = {"exp": np.exp, "log": np.log, "log10": np.log10, "sin": np.sin, "cos": np.cos, "tan": np.tan,
               "sqrt": np.sqrt, "atan": np.arctan, "arctan": np.arctan, "tanh": np.tanh, "sinh": np.sinh,
               "cosh": np.cosh, "abs": np.abs, "pi": np.pi, "e": np.e, "erf": erf, "erfc": erfc,
               "voigt": voigt_profile}


def library(cli):
    return json.loads(subprocess.run([cli, "models", "--json"], capture_output=True, text=True, check=True).stdout)


def as_numpy(model):
    """The formula text as a Python function f(X, *params), or None where it uses what numpy lacks."""
    text = model["formula"].replace("^", "**")
    predictors = model["predictors"]
    if len(predictors) == 1:
        text = re.sub(r"\bx\b", "X", text)
    else:
        for k, name in enumerate(predictors):
            text = re.sub(rf"\b{name}\b", f"X[{k}]", text)
    try:
        return eval("lambda X, " + ", ".join(model["params"]) + ": " + text, dict(NUMPY_NAMES))
    except SyntaxError:
        return None


@pytest.mark.parametrize("method, mode", [("lm", "memory"), ("trf", "stream"), ("dogbox", "chunked")])
def test_every_library_model_agrees_with_scipy(cli, tmp_path, method, mode):
    checked = 0
    for model in library(cli):
        f = as_numpy(model)
        if f is None:
            continue
        path = tmp_path / f"{model['name']}.csv"
        subprocess.run([cli, "generate", "--model", model["name"], "--points", "400", "--noise", "0.01",
                        "--seed", "5", "--out", str(path), "-q"], check=True)
        table = np.genfromtxt(path, delimiter=",", skip_header=2)
        X = table[:, :-1].T if len(model["predictors"]) > 1 else table[:, 0]
        y = table[:, -1]
        run = subprocess.run([cli, "fit", str(path), "--model", model["name"], "--method", method, "--mode", mode,
                              "--json"], capture_output=True, text=True)
        assert run.returncode == 0, (model["name"], run.stderr)
        fit = json.loads(run.stdout)
        p = np.array([q["value"] for q in fit["params"]])
        se = np.array([q["stderr"] for q in fit["params"]], dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_ref, cov_ref = curve_fit(f, X, y, p0=p * (1 + 1e-6) + 1e-12, maxfev=20000)
        se_ref = np.sqrt(np.diag(cov_ref))
        close = (np.abs(p - p_ref) <= 1e-5 * np.abs(p_ref)) | (np.abs(p - p_ref) <= 1e-3 * se_ref)
        assert close.all(), (model["name"], p, p_ref, se_ref)
        np.testing.assert_allclose(se, se_ref, rtol=1e-3, err_msg=model["name"])
        checked += 1
    assert checked >= 30, f"only {checked} models could be translated for scipy"
