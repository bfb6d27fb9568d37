"""x_range= and where= (--x-range, --where): the rows not selected follow another curve, so a wrong
selection shows in the parameters. The fit with a selection equals scipy's curve_fit on the
selected rows, and curvefit's own fit of those rows, from arrays, a dict, and files in every mode."""
import numpy as np
import pytest
from scipy.optimize import curve_fit as scipy_curve_fit

import curvefit
from conftest import exp_decay


@pytest.fixture
def two_curves(rng):
    """x in [0, 10], temp and flag columns; the rows with 2 <= x <= 8, temp > 300 and flag == 0
    follow 2.5 exp(-0.4 x) + 0.5, the others 4 exp(-2 x) - 1."""
    n = 3000
    x = np.linspace(0, 10, n)
    temp = rng.uniform(200, 400, n)
    flag = (rng.random(n) < 0.3).astype(float)
    meant = (x >= 2) & (x <= 8) & (temp > 300) & (flag == 0)
    y = np.where(meant, exp_decay(x, 2.5, 0.4, 0.5), exp_decay(x, 4.0, 2.0, -1.0)) + 0.01 * rng.standard_normal(n)
    return x, y, temp, flag, meant


def scipy_fit(x, y):
    popt, _ = scipy_curve_fit(exp_decay, x, y, p0=[2, 1, 0], xtol=1e-14, ftol=1e-14, gtol=1e-14)
    return popt


def values(result):
    return np.array([result.params[n] for n in ("a", "b", "c")])


def test_where_and_x_range_on_a_dict_equal_scipy_on_the_selected_rows(two_curves):
    x, y, temp, flag, meant = two_curves
    table = {"x": x, "y": y, "temp": temp, "flag": flag.astype(np.int32)}  # an integer column is read too
    r = curvefit.fit(table, "a*exp(-b*x)+c", p0={"a": 2, "b": 1, "c": 0}, x_range=(2, 8),
                     where="temp > 300 && flag == 0")
    assert values(r) == pytest.approx(scipy_fit(x[meant], y[meant]), rel=1e-6)
    assert r.params["b"] == pytest.approx(0.4, abs=0.01)
    d = r.to_dict()
    assert d["rows_used"] == meant.sum() and d["rows_total"] == x.size
    assert "temp > 300" in d["selection"]


def test_x_range_on_arrays_and_curve_fit(two_curves):
    x, y, temp, flag, meant = two_curves
    y = np.where((x >= 2) & (x <= 8), exp_decay(x, 2.5, 0.4, 0.5), y)
    inside = (x >= 2) & (x <= 8)
    expected = scipy_fit(x[inside], y[inside])
    r = curvefit.fit((x, y), "a*exp(-b*x)+c", p0={"a": 2, "b": 1, "c": 0}, x_range=(2, 8))
    assert values(r) == pytest.approx(expected, rel=1e-6)
    from_2 = x >= 2
    y = np.where(from_2, exp_decay(x, 2.5, 0.4, 0.5) + 0.01 * np.sin(7 * x), y)
    popt, _, info, _, _ = curvefit.curve_fit(exp_decay, x, y, p0=[2, 1, 0], x_range=(2, None), full_output=True)
    assert popt == pytest.approx(scipy_fit(x[from_2], y[from_2]), rel=1e-6)
    assert info["fvec"].size == from_2.sum()


def test_files_in_every_mode_equal_the_file_of_the_selected_rows(two_curves, tmp_path):
    x, y, temp, flag, meant = two_curves
    header = dict(delimiter=",", header="x,y,temp,flag", comments="", fmt="%.17g")
    np.savetxt(tmp_path / "all.csv", np.column_stack([x, y, temp, flag]), **header)
    np.savetxt(tmp_path / "selected.csv", np.column_stack([x, y, temp, flag])[meant], **header)
    for mode in ("memory", "chunked", "stream"):
        truth = curvefit.fit(str(tmp_path / "selected.csv"), "a*exp(-b*x)+c", p0=[2, 1, 0], mode=mode, chunk_size=250)
        r = curvefit.fit(str(tmp_path / "all.csv"), "a*exp(-b*x)+c", p0=[2, 1, 0], mode=mode, chunk_size=250,
                         x_range=(2, 8), where="temp > 300 && flag == 0")
        assert r.params == truth.params
        assert np.array_equal(r.covariance, truth.covariance)


def test_plan_names_the_selection(two_curves, tmp_path):
    x, y, temp, flag, meant = two_curves
    np.savetxt(tmp_path / "all.csv", np.column_stack([x, y, temp]), delimiter=",", header="x,y,temp", comments="")
    p = curvefit.plan(str(tmp_path / "all.csv"), "exponential", x_range=(2, None), where="temp > 300")
    assert p["selection"] == "x >= 2, temp > 300"


def test_bad_selections(two_curves):
    x, y, temp, flag, meant = two_curves
    with pytest.raises(ValueError, match="x_range"):
        curvefit.fit((x, y), "exponential", x_range=(5, 2))
    with pytest.raises(ValueError, match="no column named 'pressure'"):
        curvefit.fit({"x": x, "y": y, "temp": temp}, "exponential", where="pressure > 1")
    with pytest.raises(curvefit.DataError, match="no row of the 3000 is selected"):
        curvefit.fit({"x": x, "y": y, "temp": temp}, "exponential", where="temp > 1000")


def test_where_on_a_pandas_csv_with_index_in_si_units_and_milliseconds(two_curves, tmp_path):
    """A CSV as pandas writes it (an unnamed index column, full-precision floats), x in seconds or
    in milliseconds: the selected fit equals scipy's on the selected rows, and the rescaled
    x scales b by 1/1000 and the --x-range bounds with it, leaving a and c unchanged."""
    pandas = pytest.importorskip("pandas")
    x, y, temp, flag, meant = two_curves
    frame = pandas.DataFrame({"t_s": x, "signal": y, "temp": temp, "flag": flag})
    frame["t_ms"] = frame["t_s"] * 1000.0
    path = tmp_path / "run.csv"
    frame.to_csv(path)  # the index is written as a first column with an empty header
    start = {"a": 2, "b": 1, "c": 0}
    seconds = curvefit.fit(str(path), "a*exp(-b*x)+c", x="t_s", y="signal", p0=start,
                           x_range=(2, 8), where="temp > 300 && flag == 0")
    expected = scipy_fit(x[meant], y[meant])
    assert values(seconds) == pytest.approx(expected, rel=1e-6)
    millis = curvefit.fit(str(path), "a*exp(-b*x)+c", x="t_ms", y="signal", p0={"a": 2, "b": 1e-3, "c": 0},
                          x_range=(2000, 8000), where="temp > 300 && flag == 0")
    assert millis.to_dict()["rows_used"] == meant.sum()
    assert values(millis) == pytest.approx(expected * np.array([1, 1e-3, 1]), rel=1e-6)
    assert millis.stderr["b"] == pytest.approx(seconds.stderr["b"] * 1e-3, rel=1e-5)
    # The curve's confidence band is in y's units: the same at the same instant in either unit.
    instants = np.linspace(2, 8, 7)
    assert millis.eval_uncertainty(instants * 1000.0) == pytest.approx(seconds.eval_uncertainty(instants), rel=1e-5)
