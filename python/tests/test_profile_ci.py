"""--ci profile against lmfit's conf_interval (the reference the issue names), and the same
intervals in every mode, from the command line and from Python."""
import json
import subprocess

import numpy as np
import pytest

import curvefit
from conftest import exp_decay, gaussian

lmfit = pytest.importorskip("lmfit", reason="lmfit (Debian python3-lmfit) is the reference for profile intervals")
SIGMAS = [1, 2]


def lmfit_intervals(function, x, y, start, weights=None):
    model = lmfit.Model(function)
    result = model.fit(y, x=x, weights=weights, **start)
    ci = lmfit.conf_interval(result, result, sigmas=SIGMAS)
    # lmfit lists (probability, value) from the widest lower end to the widest upper end.
    return {name: {round(level, 4): (rows[len(SIGMAS) - 1 - k][1], rows[len(SIGMAS) + 1 + k][1])
                   for k, level in enumerate(sorted({p for p, _ in rows if p > 0}))}
            for name, rows in ci.items()}


def ours(result):
    return {name: {round(level, 4): ends for level, ends in levels.items()} for name, levels in result.profile.items()}


def assert_close(got, want, rel=1e-3):
    assert got.keys() == want.keys()
    for name in want:
        for level, (lo, hi) in want[name].items():
            assert got[name][level] == pytest.approx((lo, hi), rel=rel), (name, level)


def test_exponential_matches_lmfit(rng):
    x = np.linspace(0, 4, 60)
    y = exp_decay(x, 2.5, 1.3, 0.5) + 0.05 * rng.standard_normal(x.size)
    start = {"a": 1.0, "b": 1.0, "c": 0.0}
    want = lmfit_intervals(lambda x, a, b, c: a * np.exp(-b * x) + c, x, y, start)
    r = curvefit.fit((x, y), "a*exp(-b*x)+c", p0=start, ci="profile")
    assert_close(ours(r), want)
    # The profile is not the symmetric interval: both ends differ from value -+ k * stderr.
    lo, hi = next(iter(r.profile["b"].values()))
    assert abs((hi - r.params["b"]) - (r.params["b"] - lo)) > 1e-4 * r.stderr["b"]


def test_weighted_gaussian_matches_lmfit_in_every_mode(rng, tmp_path):
    x = np.linspace(-4, 4, 400)
    s = 0.02 + 0.03 * rng.random(x.size)
    y = gaussian(x, 2.0, 0.3, 1.1) + s * rng.standard_normal(x.size)
    start = {"a": 1.5, "mu": 0.0, "w": 1.0}
    want = lmfit_intervals(lambda x, a, mu, w: gaussian(x, a, mu, w), x, y, start, weights=1 / s)
    path = tmp_path / "peak.csv"
    np.savetxt(path, np.column_stack([x, y, s]), delimiter=",", header="x,y,sigma", comments="", fmt="%.17g")
    for mode in ("memory", "chunked", "stream"):
        r = curvefit.fit(str(path), "a*exp(-(x-mu)^2/(2*w^2))", sigma="sigma", p0=start, mode=mode,
                         chunk_size=64, ci="profile")
        assert r.mode == mode
        assert_close(ours(r), want)


def test_cli_json_and_report(cli, rng, tmp_path):
    x = np.linspace(0, 4, 80)
    y = exp_decay(x, 2.5, 1.3, 0.5) + 0.05 * rng.standard_normal(x.size)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="x,y", comments="", fmt="%.17g")
    args = [cli, "fit", str(path), "--model", "exponential", "--ci", "profile", "--ci-levels", "90,0.99", "--no-progress"]
    out = json.loads(subprocess.run(args + ["--json"], capture_output=True, text=True, check=True).stdout)
    assert out["profile"]["levels"] == [0.9, 0.99]
    r = curvefit.fit((x, y), "exponential", ci="profile", ci_levels=[0.9, 0.99])
    for name, intervals in out["profile"]["params"].items():
        for i in intervals:
            assert (i["lower"], i["upper"]) == pytest.approx(r.profile[name][i["level"]], rel=1e-9)
            assert i["lower"] < r.params[name] < i["upper"]
    report = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    assert "[[Profile Confidence Intervals]] (F-test" in report and "90.00% [" in report
    bad = subprocess.run(args[:7] + ["--ci-levels", "150"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--ci-levels" in bad.stderr


def test_chi2_rule_with_absolute_sigma_is_delta_chi2_of_one(rng):
    """With true sigmas, the 68.27% chi2-rule interval of a straight line's slope is exactly
    slope +- stderr (the profile of a linear model is a parabola)."""
    x = np.linspace(0, 10, 50)
    s = np.full(x.size, 0.3)
    y = 1.5 * x - 2 + s * rng.standard_normal(x.size)
    r = curvefit.fit((x, y, s), "linear", absolute_sigma=True, ci="profile", ci_rule="chi2", ci_levels=[0.682689492137])
    (lo, hi), = r.profile["a"].values()
    assert (lo, hi) == pytest.approx((r.params["a"] - r.stderr["a"], r.params["a"] + r.stderr["a"]), rel=1e-6)


def test_an_end_beyond_a_bound_is_cut_there(rng):
    x = np.linspace(0, 4, 30)
    y = exp_decay(x, 2.5, 1.3, 0.5) + 0.3 * rng.standard_normal(x.size)
    r = curvefit.fit((x, y), "a*exp(-b*x)+c", p0={"a": 2, "b": 1, "c": 0.5}, bounds={"c": (0.45, 10)}, ci="profile")
    d = r.to_dict()["profile"]["params"]["c"]
    assert d[-1]["lower_found"] == "bound" and d[-1]["lower"] == 0.45
