#!/usr/bin/env python3
"""Cost of --starts 8 against 8 separate fits from the same starts (issue 17), streamed HDF5.

    /usr/bin/python3 bench/starts_bench.py [--build-dir build] [--data-dir /tmp/curvefit-bench] 1e7 1e8

Each size: a sine a*sin(w*x + phi) + c (a=2, w=3.7, phi=0.5, c=1 on [0, 4], noise 0.1) fitted in
stream mode from the poor start w=1 with --starts 8; then each of its 8 starts alone (--p0 the
start's point, read from the JSON). Prints a markdown table for bench/RESULTS.md: whole-command
time and passes over the data, and whether each start alone gave the same bits.
"""
import argparse
import json
import os
import resource
import subprocess
import time

BASE = ["--model", "sine", "--x", "/x", "--y", "/y", "--bounds", "w=0.5:6", "--mode", "stream", "--json",
        "--no-progress"]


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fit(binary, path, extra):
    """The JSON, wall seconds and CPU seconds (user + system) of one command."""
    start, cpu = time.perf_counter(), cpu_seconds()
    out = subprocess.run([binary, "fit", path] + BASE + extra, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(out.stderr)
    return json.loads(out.stdout), time.perf_counter() - start, cpu_seconds() - cpu


def p0_text(init):
    return ",".join(f"{name}={value!r}" for name, value in init.items())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="+")
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--data-dir", default=os.environ.get("BENCH_DIR", "/tmp/curvefit-bench"))
    parser.add_argument("--starts", type=int, default=8)
    a = parser.parse_args()
    binary = os.path.join(a.build_dir, "bin", "curvefit")
    os.makedirs(a.data_dir, exist_ok=True)
    print("| points | what | wall time | CPU time | passes | w found | same bits as the shared run |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for size in a.sizes:
        m = int(float(size))
        path = os.path.join(a.data_dir, f"sine_{m}.h5")
        if not os.path.exists(path):
            subprocess.run([binary, "generate", "--out", path, "--model", "sine", "--points", str(m), "--params",
                            "a=2,w=3.7,phi=0.5,c=1", "--x-range", "0:4", "--noise", "0.1", "--seed", "7"],
                           check=True, capture_output=True)
        poor = ["--p0", "a=1,w=1,phi=0,c=0"]
        one, t_one, cpu_one = fit(binary, path, poor)
        print(f"| {m:.0e} | 1 start (p0) | {t_one:.3g} s | {cpu_one:.3g} s | {one['passes']} | "
              f"{one['params'][1]['value']:.6g} | |")
        many, t_many, cpu_many = fit(binary, path, poor + ["--starts", str(a.starts)])
        print(f"| {m:.0e} | --starts {a.starts} | {t_many:.3g} s | {cpu_many:.3g} s | {many['passes']} | "
              f"{many['params'][1]['value']:.6g} | |")
        total_t, total_cpu, total_passes, same = 0.0, 0.0, 0, 0
        for run in many["starts"]["runs"]:
            alone, t, cpu = fit(binary, path, ["--p0", p0_text(run["init"])])
            total_t += t
            total_cpu += cpu
            total_passes += alone["passes"]
            same += alone["cost"] == run["cost"] and all(
                p["value"] == run["params"][p["name"]] for p in alone["params"])
        best = many["starts"]["runs"][many["starts"]["best"]]
        print(f"| {m:.0e} | {a.starts} separate fits | {total_t:.3g} s | {total_cpu:.3g} s | {total_passes} | "
              f"{best['params']['w']:.6g} (best) | {same} of {a.starts} |")


if __name__ == "__main__":
    main()
