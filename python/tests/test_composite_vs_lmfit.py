"""Composite models, ties and the Voigt profile against independent references: lmfit (Debian's
python3-lmfit) fitting the same data with its prefixed models and `expr` ties, and
scipy.special.voigt_profile. Parameters agree to 1e-6 relative, standard errors to 1e-4; every
feature gives the same answer in memory, chunked and stream modes."""
import numpy as np
import pytest
from scipy.special import voigt_profile

import curvefit

lmfit = pytest.importorskip("lmfit")

TIGHT = dict(ftol=1e-15, xtol=1e-15, gtol=1e-15)


def gaussian_height(x, a, mu, sigma):
    """curvefit's gaussian: a the height (lmfit's GaussianModel takes the area)."""
    return a * np.exp(-((x - mu) ** 2) / (2 * sigma ** 2))


def two_peaks(rng, n=1500):
    x = np.linspace(0, 10, n)
    y = (gaussian_height(x, 3.0, 3.5, 0.6) + gaussian_height(x, 2.0, 6.2, 0.8) + 0.3 * x + 1.0
         + rng.normal(0, 0.05, n))
    return x, y


def lmfit_two_gaussians_and_line(x, y, start, tie=None):
    model = (lmfit.Model(gaussian_height, prefix="p1_") + lmfit.Model(gaussian_height, prefix="p2_")
             + lmfit.models.LinearModel())
    params = model.make_params()
    for name, value in start.items():
        params[name.replace("a", "slope") if name == "a" else "intercept" if name == "b" else name].set(value=value)
    if tie:
        params[tie[0]].set(expr=tie[1])
    return model.fit(y, params, x=x, fit_kws=dict(ftol=1e-15, xtol=1e-15, gtol=1e-15), max_nfev=100000)


def lmfit_name(name):
    return {"a": "slope", "b": "intercept"}.get(name, name)


def assert_same_fit(ours, theirs, names):
    for name in names:
        ref = theirs.params[lmfit_name(name)]
        assert ours.params[name] == pytest.approx(ref.value, rel=1e-6), name
        assert ours.stderr[name] == pytest.approx(ref.stderr, rel=1e-4), name


def test_two_gaussians_and_a_line_match_lmfit(rng):
    x, y = two_peaks(rng)
    ours = curvefit.fit((x, y), "gaussian[p1] + gaussian[p2] + linear", **TIGHT)
    assert ours.success
    names = ["p1_a", "p1_mu", "p1_sigma", "p2_a", "p2_mu", "p2_sigma", "a", "b"]
    assert list(ours.params) == names
    theirs = lmfit_two_gaussians_and_line(x, y, {k: v * (1 + 1e-3) for k, v in ours.params.items()})
    assert_same_fit(ours, theirs, names)


def test_the_guess_finds_both_peaks_left_to_right(rng):
    # Started from its own guess (no p0), the fit lands on the truth: p1 the left peak.
    x, y = two_peaks(rng)
    ours = curvefit.fit((x, y), "gaussian[p1] + gaussian[p2] + linear")
    assert ours.params["p1_mu"] == pytest.approx(3.5, abs=0.01)
    assert ours.params["p2_mu"] == pytest.approx(6.2, abs=0.01)
    assert ours.params["a"] == pytest.approx(0.3, abs=0.01)


def test_a_tie_matches_lmfit_expr(rng):
    x, y = two_peaks(rng)
    ours = curvefit.fit((x, y), "gaussian[p1] + gaussian[p2] + linear", tie={"p2_sigma": "1.25*p1_sigma"}, **TIGHT)
    assert ours.success
    assert "p2_sigma" not in list(ours.params)[:7] and ours.tied == {"p2_sigma": "1.25*p1_sigma"}
    start = {k: v * (1 + 1e-3) for k, v in ours.params.items() if k != "p2_sigma"}
    theirs = lmfit_two_gaussians_and_line(x, y, start, tie=("p2_sigma", "1.25*p1_sigma"))
    assert_same_fit(ours, theirs, ["p1_a", "p1_mu", "p1_sigma", "p2_a", "p2_mu", "a", "b", "p2_sigma"])
    # The delta method for a linear tie: exactly 1.25 times p1_sigma's error.
    assert ours.stderr["p2_sigma"] == pytest.approx(1.25 * ours.stderr["p1_sigma"], rel=1e-12)


def test_voigt_peaks_match_lmfit_voigt_model(rng):
    x = np.linspace(-4, 8, 1200)
    y = 5.0 * voigt_profile(x - 1.0, 0.5, 0.3) + 2.0 * voigt_profile(x - 4.0, 0.4, 0.6) + 0.2
    y = y + rng.normal(0, 0.01, x.size)
    ours = curvefit.fit((x, y), "voigt[v1] + voigt[v2] + c", p0={"c": 0.1}, **TIGHT)
    assert ours.success
    model = (lmfit.models.VoigtModel(prefix="v1_") + lmfit.models.VoigtModel(prefix="v2_")
             + lmfit.models.ConstantModel())
    params = model.make_params()
    for p in ("v1_", "v2_"):
        params[p + "gamma"].set(vary=True, expr=None)  # lmfit ties gamma to sigma unless told
        for ours_name, their_name in (("a", "amplitude"), ("mu", "center"), ("sigma", "sigma"), ("gamma", "gamma")):
            params[p + their_name].set(value=ours.params[p + ours_name] * (1 + 1e-3))
    params["c"].set(value=ours.params["c"])
    theirs = model.fit(y, params, x=x, fit_kws=dict(ftol=1e-15, xtol=1e-15, gtol=1e-15), max_nfev=100000)
    for p in ("v1_", "v2_"):
        for ours_name, their_name in (("a", "amplitude"), ("mu", "center"), ("sigma", "sigma"), ("gamma", "gamma")):
            ref = theirs.params[p + their_name]
            assert ours.params[p + ours_name] == pytest.approx(ref.value, rel=1e-6), p + ours_name
            assert ours.stderr[p + ours_name] == pytest.approx(ref.stderr, rel=1e-4), p + ours_name


def test_voigt_values_match_scipy():
    # Everything but an offset z fixed: the fitted curve minus z is the formula's voigt().
    x = np.linspace(-30, 30, 2001)
    for sigma, gamma in ((0.5, 0.3), (1e-3, 2.0), (3.0, 1e-4), (1.0, 1.0)):
        y = 2.0 * voigt_profile(x - 0.7, sigma, gamma)
        r = curvefit.fit((x, y), "a*voigt(x - mu, sigma, gamma) + z", p0={"z": 0.0},
                         fix={"a": 2.0, "mu": 0.7, "sigma": sigma, "gamma": gamma})
        np.testing.assert_allclose(r.eval(x) - r.params["z"], y, rtol=1e-10, atol=1e-300)


def voigt_and_line(rng, n):
    x = np.linspace(0, 10, n)
    return x, 3.0 * voigt_profile(x - 5.0, 0.5, 0.4) + 0.1 * x + 1.0 + rng.normal(0, 0.01, n)


def broken_line(rng, n):
    x = np.linspace(0, 10, n)
    return x, np.where(x < 4.0, 1.0 * (x - 4.0), 0.3 * (x - 4.0)) + 2.0 + rng.normal(0, 0.05, n)


@pytest.mark.parametrize("model, tie, data", [
    ("gaussian[p1] + gaussian[p2] + linear", {"p2_sigma": "1.25*p1_sigma"}, two_peaks),
    ("voigt[v] + linear", None, voigt_and_line),
    ("if(x < x0, a1*(x - x0), a2*(x - x0)) + c + min(d*x, 100)*0 + heaviside(x - 100)*e1", None, broken_line),
])
def test_every_mode_gives_the_same_answer(rng, tmp_path, model, tie, data):
    x, y = data(rng, 3000)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.c_[x, y], delimiter=",", header="x,y", comments="")
    p0 = {"x0": 5.0, "a1": 1, "a2": 1, "c": 1} if model.startswith("if") else None
    fix = {"d": 1.0, "e1": 0.0} if model.startswith("if") else None
    results = [curvefit.fit(str(path), model, tie=tie, p0=p0, fix=fix, mode=mode,
                            chunk_size=257 if mode != "memory" else None, **TIGHT)
               for mode in ("memory", "chunked", "stream")]
    assert [r.mode for r in results] == ["memory", "chunked", "stream"]
    assert all(r.success for r in results)
    if model.startswith("if"):
        assert results[0].params["x0"] == pytest.approx(4.0, abs=0.05)
    for r in results[1:]:
        for name, value in results[0].params.items():
            assert r.params[name] == pytest.approx(value, rel=1e-10, abs=1e-12), (r.mode, name)
            assert r.stderr[name] == pytest.approx(results[0].stderr[name], rel=1e-8), (r.mode, name)
