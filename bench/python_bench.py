"""curvefit's Python API against scipy.optimize.curve_fit on the same data in RAM.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [sizes...]

Two workloads with noise (sd 0.05): the exponential decay of bench/RESULTS.md and a Gaussian peak,
each fitted from the same starting point by scipy's curve_fit (a Python function; method lm, as
curve_fit picks without bounds) and by curvefit.curve_fit with the built-in name, the formula and
the same Python function (also lm). Median wall time of 3 runs, the call as the user makes it;
speed-up = scipy / curvefit. curvefit's default tolerances (ftol 1e-15, xtol 1e-12: NIST-grade
digits) are stricter than curve_fit's (MINPACK's ftol = xtol = 1.49012e-8, gtol = 0), so the name
and the formula are also timed with curve_fit's tolerances passed to curvefit ("scipy's tol"):
the like-with-like comparison. Every curvefit popt must equal scipy's to 1e-6 relative. The last
columns are the same ratios by process CPU time (time.process_time, all threads: curvefit's two
workers count twice), which other processes on a shared machine disturb far less than wall time.
"""
import statistics
import sys
import time

import numpy as np
from scipy.optimize import curve_fit as scipy_curve_fit

import curvefit


def gaussian(x, a, mu, sigma):
    return a * np.exp(-((x - mu) ** 2) / (2 * sigma ** 2))


def exponential(x, a, b, c):
    return a * np.exp(-b * x) + c


# name, Python function, formula, truth, start
WORKLOADS = [
    ("exponential", exponential, "a*exp(-b*x) + c", [3.0, 0.7, 0.5], [1.0, 1.0, 1.0]),
    ("gaussian", gaussian, "a*exp(-((x - mu)^2)/(2*sigma^2))", [3.0, 5.0, 1.2], [2.0, 4.5, 1.0]),
]


# What scipy's curve_fit uses without bounds (method lm): leastsq's defaults.
SCIPY_LM_TOLERANCES = dict(ftol=1.49012e-8, xtol=1.49012e-8, gtol=0.0)


def median_time(call, repeats=3):
    """(median wall s, median process CPU s, the last result)."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = call()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus), out


def main(sizes):
    labels = ["name", "formula", "python f", "name, scipy's tol", "formula, scipy's tol"]
    print("| model | points | scipy curve_fit | " + " | ".join(f"curvefit {l}" for l in labels) + " | " +
          " | ".join(f"× {l}" for l in labels) + " | " + " | ".join(f"CPU × {l}" for l in labels) + " |")
    print("|---|---:|" + "---:|" * (1 + 3 * len(labels)))
    for name, function, formula, truth, p0 in WORKLOADS:
        for n in sizes:
            x = np.linspace(0, 10, n)
            y = function(x, *truth) + 0.05 * np.random.default_rng(1).standard_normal(n)
            t_scipy, cpu_scipy, (p_scipy, _) = median_time(lambda: scipy_curve_fit(function, x, y, p0=p0))
            times, cpus = [], []
            runs = [(name, {}), (formula, {}), (function, {}), (name, SCIPY_LM_TOLERANCES),
                    (formula, SCIPY_LM_TOLERANCES)]
            for model, tolerances in runs:
                t, cpu, (p, _) = median_time(lambda: curvefit.curve_fit(model, x, y, p0=p0, **tolerances))
                np.testing.assert_allclose(p, p_scipy, rtol=1e-6, err_msg=str(model))
                times.append(t)
                cpus.append(cpu)
            print(f"| {name} | {n:.0e} | {t_scipy:.3g} s | " + " | ".join(f"{t:.3g} s" for t in times) + " | " +
                  " | ".join(f"{t_scipy / t:.1f}×" for t in times) + " | " +
                  " | ".join(f"{cpu_scipy / c:.1f}×" for c in cpus) + " |", flush=True)


if __name__ == "__main__":
    main([int(float(s)) for s in sys.argv[1:]] or [100_000, 1_000_000, 10_000_000])
