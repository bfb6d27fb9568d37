"""curvefit.fit on a list of files (or glob patterns): one dataset, rows in the order of the sorted
file names; the same parameters and covariance as one file holding those rows (to rounding: each
file's chunks fold into slots of its own; the same bits for any threads), near the truth
and near scipy's fit of the same points; errors name the file that is wrong."""
import numpy as np
import pytest
from scipy.optimize import curve_fit

import curvefit
from conftest import exp_decay


@pytest.fixture
def shards(tmp_path, rng):
    x = np.linspace(0, 10, 3000)
    y = exp_decay(x, 5.0, 0.5, 1.0) + 0.05 * rng.standard_normal(x.size)
    whole = tmp_path / "all.csv"
    np.savetxt(whole, np.column_stack([x, y]), delimiter=",", header="x,y", comments="", fmt="%.17g")
    parts = []
    for name, rows in (("run-1.csv", slice(0, 1100)), ("run-2.csv", slice(1100, 1900)), ("run-3.csv", slice(1900, None))):
        path = tmp_path / name
        np.savetxt(path, np.column_stack([x[rows], y[rows]]), delimiter=",", header="x,y", comments="", fmt="%.17g")
        parts.append(path)
    return whole, parts, x, y


@pytest.mark.parametrize("mode", ["memory", "chunked", "stream"])
def test_list_of_paths_fits_as_the_one_file(shards, mode):
    whole, parts, x, y = shards
    one = curvefit.fit(whole, "exponential", mode=mode, chunk_size=500)
    listed = curvefit.fit([parts[2], str(parts[0]), parts[1]], "exponential", mode=mode, chunk_size=500)
    pattern = curvefit.fit([str(parts[0].parent / "run-*.csv")], "exponential", mode=mode, chunk_size=500)
    reference = curvefit.fit(parts, "exponential", mode=mode, chunk_size=500, threads=1)
    for result in (listed, pattern):
        assert result.params == reference.params
        assert np.array_equal(result.covariance, reference.covariance)
        for name in "abc":
            assert result.params[name] == pytest.approx(one.params[name], rel=1e-10, abs=0)
        scale = np.sqrt(np.outer(np.diag(one.covariance), np.diag(one.covariance)))
        assert np.all(np.abs(result.covariance - one.covariance) <= 1e-9 * scale)
    assert pattern.to_dict()["data"] == str(parts[0].parent / "run-*.csv") + " (3 files)"
    expected, _ = curve_fit(exp_decay, x, y, p0=[4, 0.4, 0.9])
    for name, truth, scipy_value in zip("abc", (5.0, 0.5, 1.0), expected):
        assert abs(listed.params[name] - truth) < 5 * listed.stderr[name]
        assert listed.params[name] == pytest.approx(scipy_value, rel=1e-6)


def test_a_file_with_other_columns_is_named(shards, tmp_path):
    _, parts, _, _ = shards
    other = tmp_path / "run-4.csv"
    other.write_text("t,y\n1,2\n2,3\n")
    with pytest.raises(curvefit.DataError, match="run-4.csv: its columns"):
        curvefit.fit(parts + [other], "exponential")


def test_a_pattern_that_matches_nothing_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no file matches this pattern"):
        curvefit.fit([str(tmp_path / "none-*.h5")], "exponential")
