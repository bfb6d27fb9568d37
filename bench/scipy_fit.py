#!/usr/bin/python3
"""Peer timing: scipy.optimize.least_squares (trf, lm, dogbox, analytic Jacobian) and curve_fit on
the same HDF5 file curvefit fits. Times only the solve (the data are read first), prints one JSON
object per method on stdout.

usage: scipy_fit.py FILE.h5 MODEL METHOD[,METHOD...] P0
  MODEL: exponential (a*exp(-b*x)+c) | double_exponential (a1*exp(-b1*x)+a2*exp(-b2*x)+c)
  P0: comma-separated starting values
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


MODELS = {"exponential": (exponential, exponential_jac),
          "double_exponential": (double_exponential, double_exponential_jac)}


def main():
    path, model_name, methods, p0_text = sys.argv[1:5]
    f, jac = MODELS[model_name]
    with h5py.File(path, "r") as h5:
        x = np.asarray(h5["x"][...], dtype=np.float64)
        y = np.asarray(h5["y"][...], dtype=np.float64)
    p0 = np.array([float(v) for v in p0_text.split(",")])
    for method in methods.split(","):
        start = time.perf_counter()
        if method == "curve_fit":
            popt, _ = curve_fit(f, x, y, p0=p0, jac=jac)
            nfev = None
        else:
            res = least_squares(lambda p: f(x, *p) - y, p0, jac=lambda p: jac(x, *p), method=method)
            popt, nfev = res.x, int(res.nfev)
        elapsed = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"contender": "scipy " + method, "m": int(x.size), "time_s": elapsed,
                          "params": [float(v) for v in popt], "nfev": nfev,
                          "peak_rss_bytes": peak_kib * 1024}), flush=True)


if __name__ == "__main__":
    main()
