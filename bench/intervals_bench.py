#!/usr/bin/env python3
"""Cost of --ci profile and --cov robust against the plain fit (issue 17), on generated HDF5 data.

    /usr/bin/python3 bench/intervals_bench.py [--build-dir build] [--data-dir /tmp/curvefit-bench] 1e7 1e8

Each size: the plain fit, --cov robust and --ci profile, each `--repeats` times (median). Sizes of
1e8 and more run under --memory-limit 256MB (streamed). Prints a markdown table for bench/RESULTS.md:
whole-command time, passes over the data, and the profile's refits.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess


def run(binary, path, extra, limit):
    args = [binary, "fit", path, "--model", "exponential", "--x", "/x", "--y", "/y", "--json", "--no-progress"]
    if limit:
        args += ["--memory-limit", limit]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(args + extra, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(out.stdout)
    # CPU seconds of the whole process: what a busy machine does not stretch, unlike wall time.
    report["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="+")
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--data-dir", default=os.environ.get("BENCH_DIR", "/tmp/curvefit-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    a = parser.parse_args()
    binary = os.path.join(a.build_dir, "bin", "curvefit")
    os.makedirs(a.data_dir, exist_ok=True)
    print(f"load average at the start: {os.getloadavg()}")
    print("| points | what | mode | time (median) | CPU s | passes | profile refits / passes |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for size in a.sizes:
        m = int(float(size))
        path = os.path.join(a.data_dir, f"intervals_{m}.h5")
        if not os.path.exists(path):
            subprocess.run([binary, "generate", "--out", path, "--model", "exponential", "--points", str(m),
                            "--noise", "0.05", "--seed", "7"], check=True, capture_output=True)
        limit = "256MB" if m >= 100_000_000 else None
        for label, extra in (("fit", []), ("--cov robust", ["--cov", "robust"]), ("--ci profile", ["--ci", "profile"])):
            runs = [run(binary, path, extra, limit) for _ in range(a.repeats)]
            t = statistics.median(r["time_s"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            r = runs[0]
            p = r.get("profile")
            prof = f"{p['refits']} / {p['passes']}" if p else ""
            print(f"| {m:.0e} | {label} | {r['mode']} | {t:.3g} s | {cpu:.3g} | {r['passes']} | {prof} |")


if __name__ == "__main__":
    main()
