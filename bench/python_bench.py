"""curvefit's Python API against scipy.optimize.curve_fit on the same data in RAM.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [sizes...]

A Gaussian peak with noise, fitted from the same starting point by scipy (a Python function,
method lm as curve_fit picks without bounds) and by curvefit.curve_fit with the built-in name, the
formula and the same Python function. Median wall time of 3 runs; speed-up = scipy / curvefit.
"""
import statistics
import sys
import time

import numpy as np
from scipy.optimize import curve_fit as scipy_curve_fit

import curvefit


def gaussian(x, a, mu, sigma):
    return a * np.exp(-((x - mu) ** 2) / (2 * sigma ** 2))


FORMULA = "a*exp(-((x - mu)^2)/(2*sigma^2))"
P0 = [2.0, 4.5, 1.0]


def median_time(call, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(sizes):
    print("| points | scipy (python f) | curvefit name | curvefit formula | curvefit python f | "
          "speed-up name | formula | python f |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        x = np.linspace(0, 10, n)
        y = gaussian(x, 3.0, 5.0, 1.2) + 0.05 * np.random.default_rng(1).standard_normal(n)
        t_scipy, (p_scipy, _) = median_time(lambda: scipy_curve_fit(gaussian, x, y, p0=P0))
        rows = []
        for model in ("gaussian", FORMULA, gaussian):
            t, (p, _) = median_time(lambda: curvefit.curve_fit(model, x, y, p0=P0))
            assert np.allclose(p, p_scipy, rtol=1e-6), (model, p, p_scipy)
            rows.append(t)
        print(f"| {n:.0e} | {t_scipy:.3f} s | " + " | ".join(f"{t:.3f} s" for t in rows) + " | " +
              " | ".join(f"{t_scipy / t:.1f}x" for t in rows) + " |", flush=True)


if __name__ == "__main__":
    main([int(float(s)) for s in sys.argv[1:]] or [100_000, 1_000_000, 10_000_000])
