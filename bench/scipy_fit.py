#!/usr/bin/python3
"""Peer timing: scipy.optimize.least_squares (trf, lm, dogbox, analytic Jacobian) and curve_fit on
the same HDF5 file curvefit fits. Times only the solve (the data are read first), prints one JSON
object per method on stdout with the time of every repetition.

usage: scipy_fit.py FILE.h5 MODEL METHOD[,METHOD...] P0 [REPEATS]
  MODEL: exponential (a*exp(-b*x)+c) | double_exponential (a1*exp(-b1*x)+a2*exp(-b2*x)+c)
         | two_gaussian (a1*exp(-(x-m1)^2/(2*s1^2)) + a2*exp(-(x-m2)^2/(2*s2^2)) + c)
  P0: comma-separated starting values, in the order of the formula's parameters above
  METHOD: trf | lm | dogbox | curve_fit | lmfit (lmfit's Model.fit as users call it: its default
          leastsq with forward-difference derivatives; Debian python3-lmfit)
"""
import json
import resource
import sys
import time

import h5py
import numpy as np
from scipy.optimize import curve_fit, least_squares


def exponential(x, a, b, c):
    return a * np.exp(-b * x) + c


def exponential_jac(x, a, b, c):
    e = np.exp(-b * x)
    return np.column_stack([e, -a * x * e, np.ones_like(x)])


def double_exponential(x, a1, b1, a2, b2, c):
    return a1 * np.exp(-b1 * x) + a2 * np.exp(-b2 * x) + c


def double_exponential_jac(x, a1, b1, a2, b2, c):
    e1 = np.exp(-b1 * x)
    e2 = np.exp(-b2 * x)
    return np.column_stack([e1, -a1 * x * e1, e2, -a2 * x * e2, np.ones_like(x)])


def two_gaussian(x, a1, m1, s1, a2, m2, s2, c):
    return a1 * np.exp(-(x - m1) ** 2 / (2 * s1 ** 2)) + a2 * np.exp(-(x - m2) ** 2 / (2 * s2 ** 2)) + c


def two_gaussian_jac(x, a1, m1, s1, a2, m2, s2, c):
    columns = []
    for a, m, s in ((a1, m1, s1), (a2, m2, s2)):
        d = x - m
        g = np.exp(-d ** 2 / (2 * s ** 2))
        columns += [g, a * g * d / s ** 2, a * g * d ** 2 / s ** 3]
    columns.append(np.ones_like(x))
    return np.column_stack(columns)


MODELS = {"exponential": (exponential, exponential_jac),
          "double_exponential": (double_exponential, double_exponential_jac),
          "two_gaussian": (two_gaussian, two_gaussian_jac)}


def solve(method, f, jac, x, y, p0):
    """One fit; returns the parameters and the passes over the data (function + Jacobian sweeps)."""
    if method == "lmfit":
        import lmfit
        model = lmfit.Model(f)
        params = model.make_params(**dict(zip(model.param_names, p0)))
        result = model.fit(y, params, x=x)
        return np.array([result.params[n].value for n in model.param_names]), int(result.nfev)
    if method == "curve_fit":
        popt, _, info, _, _ = curve_fit(f, x, y, p0=p0, jac=jac, full_output=True)
        return popt, int(info["nfev"]) + int(info.get("njev", 0) or 0)
    res = least_squares(lambda p: f(x, *p) - y, p0, jac=lambda p: jac(x, *p), method=method)
    return res.x, int(res.nfev) + int(res.njev or 0)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    path, model_name, methods, p0_text = sys.argv[1:5]
    repeats = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    f, jac = MODELS[model_name]
    with h5py.File(path, "r") as h5:
        x = np.asarray(h5["x"][...], dtype=np.float64)
        y = np.asarray(h5["y"][...], dtype=np.float64)
    p0 = np.array([float(v) for v in p0_text.split(",")])
    for method in methods.split(","):
        times, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            popt, passes = solve(method, f, jac, x, y, p0)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"contender": "lmfit Model.fit" if method == "lmfit" else "scipy " + method, "m": int(x.size), "times_s": times,
                          "time_s": sorted(times)[len(times) // 2], "cpu_s": cpu,
                          "params": [float(v) for v in popt], "passes": passes,
                          "peak_rss_bytes": peak_kib * 1024}), flush=True)


if __name__ == "__main__":
    main()
