"""curvefit.curve_fit gives scipy.optimize.curve_fit's popt (1e-6 relative) and pcov (1e-4
relative) on the same data: built-in names, formulas and Python functions; with sigma,
absolute_sigma and bounds; one and two predictors."""
import numpy as np
import pytest
from scipy.optimize import curve_fit as scipy_curve_fit

import curvefit
from conftest import exp_decay, gaussian, plane


def assert_same(ours, theirs):
    popt, pcov = ours
    sp_popt, sp_pcov = theirs
    np.testing.assert_allclose(popt, sp_popt, rtol=1e-6)
    np.testing.assert_allclose(pcov, sp_pcov, rtol=1e-4, atol=1e-4 * np.abs(sp_pcov).max())


@pytest.fixture
def peak(rng):
    x = np.linspace(-5, 5, 2000)
    sigma = 0.02 + 0.03 * rng.random(x.size)
    y = gaussian(x, 2.0, 0.3, 1.2) + sigma * rng.standard_normal(x.size)
    return x, y, sigma


@pytest.fixture
def decay(rng):
    x = np.linspace(0, 8, 3000)
    y = exp_decay(x, 3.0, 0.7, 0.5) + 0.05 * rng.standard_normal(x.size)
    return x, y


P0_PEAK = [1.5, 0.0, 1.0]


@pytest.mark.parametrize("model", ["gaussian", "a*exp(-((x - mu)^2)/(2*sigma^2))", gaussian])
def test_peak_unweighted(model, peak):
    x, y, _ = peak
    assert_same(curvefit.curve_fit(model, x, y, p0=P0_PEAK), scipy_curve_fit(gaussian, x, y, p0=P0_PEAK))


@pytest.mark.parametrize("model", ["gaussian", gaussian])
@pytest.mark.parametrize("absolute_sigma", [False, True])
def test_peak_with_sigma(model, absolute_sigma, peak):
    x, y, s = peak
    ours = curvefit.curve_fit(model, x, y, p0=P0_PEAK, sigma=s, absolute_sigma=absolute_sigma)
    theirs = scipy_curve_fit(gaussian, x, y, p0=P0_PEAK, sigma=s, absolute_sigma=absolute_sigma)
    assert_same(ours, theirs)


@pytest.mark.parametrize("model", ["exponential", "a*exp(-b*x)+c", exp_decay])
def test_decay_with_bounds_that_bind(model, decay):
    x, y = decay
    bounds = ([0, 0, 0.6], [10, 5, 2])  # c's lower bound binds (truth 0.5)
    ours = curvefit.curve_fit(model, x, y, p0=[1, 1, 1], bounds=bounds)
    theirs = scipy_curve_fit(exp_decay, x, y, p0=[1, 1, 1], bounds=bounds)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    assert ours[0][2] == pytest.approx(0.6)


def test_decay_with_bounds_inactive_covariance(decay):
    x, y = decay
    bounds = ([0, 0, -1], [10, 5, 2])
    ours = curvefit.curve_fit("a*exp(-b*x)+c", x, y, p0=[1, 1, 1], bounds=bounds)
    assert_same(ours, scipy_curve_fit(exp_decay, x, y, p0=[1, 1, 1], bounds=bounds))


def test_callable_with_jac(decay):
    x, y = decay

    def jac(x, a, b, c):
        e = np.exp(-b * x)
        return np.column_stack([e, -a * x * e, np.ones_like(x)])

    ours = curvefit.curve_fit(exp_decay, x, y, p0=[1, 1, 1], jac=jac, full_output=True)
    assert ours[2]["jacobian"] == "given"
    assert_same(ours[:2], scipy_curve_fit(exp_decay, x, y, p0=[1, 1, 1], jac=jac))


def test_two_predictors(rng):
    x = rng.uniform(-1, 1, size=(2, 500))
    y = plane(x, 1.5, -2.0, 0.25) + 0.1 * rng.standard_normal(500)
    theirs = scipy_curve_fit(plane, x, y, p0=[1, 1, 1])
    for model in ("plane", "a*x1 + b*x2 + c", plane):
        assert_same(curvefit.curve_fit(model, x, y, p0=[1, 1, 1]), theirs)


def test_full_output(decay):
    x, y = decay
    popt, pcov, info, mesg, ier = curvefit.curve_fit(exp_decay, x, y, full_output=True)
    assert 1 <= ier <= 4 and isinstance(mesg, str)
    assert info["jacobian"] == "forward differences"
    np.testing.assert_allclose(info["fvec"], exp_decay(x, *popt) - y, atol=1e-12)
    assert "forward differences" in str(info["result"])


def test_not_converged_raises_runtime_error(decay):
    x, y = decay
    with pytest.raises(RuntimeError, match="Optimal parameters not found"):
        curvefit.curve_fit("a*exp(-b*x)+c", x, y, max_nfev=2)


def test_python_function_sees_bounded_blocks(rng):
    """A Python f is called on blocks of rows (memory stays bounded), never on all 300000 at once,
    and few enough times that the Python call overhead stays small."""
    n = 300_000
    x = np.linspace(0, 8, n)
    y = exp_decay(x, 3.0, 0.7, 0.5) + 0.05 * rng.standard_normal(n)
    sizes = []

    def f(x, a, b, c):
        sizes.append(x.size)
        return exp_decay(x, a, b, c)

    popt, _, info, _, _ = curvefit.curve_fit(f, x, y, p0=[1, 1, 1], full_output=True)
    np.testing.assert_allclose(popt, scipy_curve_fit(exp_decay, x, y, p0=[1, 1, 1])[0], rtol=1e-6)
    assert max(sizes) <= 65536
    evaluations = info["result"].nfev + info["result"].njev * 3  # f and 3 difference steps
    assert len(sizes) <= 2 * evaluations * -(-n // 65536)


@pytest.mark.parametrize("loss", ["soft_l1", "huber", "cauchy"])
def test_least_squares_options(loss, decay):
    """loss, f_scale and a per-parameter x_scale mean what they mean to scipy (method trf)."""
    x, y = decay
    y = y.copy()
    y[::50] += 2.0  # outliers
    options = dict(loss=loss, f_scale=0.1, x_scale=[1.0, 0.5, 1.0], method="trf")
    ours = curvefit.curve_fit("a*exp(-b*x)+c", x, y, p0=[1, 1, 1], **options)
    theirs = scipy_curve_fit(exp_decay, x, y, p0=[1, 1, 1], **options)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
