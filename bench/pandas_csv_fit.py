#!/usr/bin/python3
"""Peer timing for CSV: pandas.read_csv then scipy.optimize.curve_fit (analytic Jacobian) on the
CSV that `curvefit generate` wrote (a '#' comment line, then the header x,y). Times the read and
the fit separately, in the same process, and prints one JSON object: times_s (read + fit of each
repetition), read_s, fit_s, params, passes, peak RSS.

usage: pandas_csv_fit.py FILE.csv MODEL P0 [REPEATS]   (MODEL and P0 as in scipy_fit.py)
"""
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from scipy_fit import MODELS


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, model_name, p0_text = sys.argv[1:4]
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    f, jac = MODELS[model_name]
    p0 = np.array([float(v) for v in p0_text.split(",")])
    times, reads, fits, cpu = [], [], [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        table = pd.read_csv(path, comment="#")
        x = table["x"].to_numpy(dtype=np.float64)
        y = table["y"].to_numpy(dtype=np.float64)
        read = time.perf_counter()
        popt, _, info, _, _ = curve_fit(f, x, y, p0=p0, jac=jac, full_output=True)
        done = time.perf_counter()
        times.append(done - start)
        reads.append(read - start)
        fits.append(done - read)
        cpu.append(time.process_time() - start_cpu)
        del table, x, y
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    middle = sorted(range(repeats), key=lambda i: times[i])[repeats // 2]
    print(json.dumps({"contender": "pandas.read_csv + curve_fit", "times_s": times, "time_s": times[middle],
                      "read_s": reads[middle], "fit_s": fits[middle], "cpu_s": cpu,
                      "params": [float(v) for v in popt], "passes": int(info["nfev"]) + int(info.get("njev", 0) or 0),
                      "peak_rss_bytes": peak_kib * 1024}), flush=True)


if __name__ == "__main__":
    main()
