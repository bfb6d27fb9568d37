"""starts=N (--starts): a sine whose frequency the start from p0 misses, generated here with known
parameters; N starts find it, and each start is the single fit from that start, bit for bit."""
import numpy as np
import pytest

import curvefit


@pytest.fixture
def wave():
    rng = np.random.default_rng(21)
    x = np.linspace(0, 4, 20000)
    return x, 2.0 * np.sin(3.7 * x) + 0.1 * rng.standard_normal(x.size)


def test_one_start_misses_the_frequency_and_eight_starts_find_it(wave):
    bounds = {"a": (-5, 5), "w": (0.5, 6)}
    one = curvefit.fit(wave, "a*sin(w*x)", p0={"a": 1, "w": 1}, bounds=bounds, mode="chunked", chunk_size=1000)
    assert abs(one.params["w"] - 3.7) > 0.1
    assert one.starts is None
    many = curvefit.fit(wave, "a*sin(w*x)", p0={"a": 1, "w": 1}, bounds=bounds, mode="chunked", chunk_size=1000,
                        starts=8, seed=4)
    assert many.params["w"] == pytest.approx(3.7, abs=5 * many.stderr["w"])
    assert many.params["a"] == pytest.approx(2.0, abs=5 * many.stderr["a"])
    assert many.starts["count"] == 8 and len(many.starts["minima"]) >= 2
    assert many.passes < many.starts["separate_passes"]
    for run in many.starts["runs"]:
        alone = curvefit.fit(wave, "a*sin(w*x)", p0=run["init"], bounds=bounds, mode="chunked", chunk_size=1000)
        assert alone.params == run["params"]
        assert alone.passes == run["passes"]


def test_fewer_than_one_start_is_an_error(wave):
    with pytest.raises(ValueError, match="starts"):
        curvefit.fit(wave, "a*sin(w*x)", starts=0)
