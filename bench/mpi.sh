#!/usr/bin/env bash
# Distributed fits (issue 14) on this machine: 1e8 points from HDF5 fitted by one process and by
# `mpirun -np 2` (one thread per rank), in memory and streaming modes; then 1 to 4 ranks on 1e6
# points for the communication model (docs/scaling.md). Prints a Markdown section for
# bench/RESULTS.md ("## Distributed fits (MPI)"): median wall time, passes, time per pass, the time
# of one exchange of partial factors (after the ranks agreed on the pass's status: the reduction,
# not the wait for the slowest rank) and the bytes rank 0 sends per pass.
#
# This machine has 2 cores: beyond 2 ranks (--oversubscribe) the timings show that it works, not
# how it scales. Environment: BENCH_DIR (data, default /tmp/curvefit-bench), BENCH_REPEATS (3),
# BENCH_BUILD_DIR (default <source>/build), BENCH_POINTS (default 1e8).
set -euo pipefail
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BENCH_BUILD_DIR:-$source_dir/build}"
data_dir="${BENCH_DIR:-/tmp/curvefit-bench}"
repeats="${BENCH_REPEATS:-3}"
points="${BENCH_POINTS:-1e8}"
curvefit="$build_dir/bin/curvefit"
python=/usr/bin/python3
command -v mpirun > /dev/null || { echo "bench/mpi.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 77; }
mkdir -p "$data_dir"
big="$data_dir/mpi_$points.h5"
small="$data_dir/mpi_1e6.h5"
[ -f "$big" ] || "$curvefit" generate --model exponential --points "$points" --noise 0.05 --out "$big" -q
[ -f "$small" ] || "$curvefit" generate --model exponential --points 1e6 --noise 0.05 --out "$small" -q
mpirun=(mpirun --allow-run-as-root --oversubscribe)

# One configuration, BENCH_REPEATS times: a table row of medians.
measure() {
  local label="$1" ranks="$2"; shift 2
  local runs=()
  for _ in $(seq "$repeats"); do
    if [ "$ranks" = 0 ]; then runs+=("$("$curvefit" "$@" --json)"); else runs+=("$("${mpirun[@]}" -np "$ranks" "$curvefit" "$@" --json)"); fi
  done
  printf '%s\n' "${runs[@]}" | "$python" -c '
import json, statistics, sys
text = sys.stdin.read()
decoder, runs, i = json.JSONDecoder(), [], 0
while i < len(text):
    if text[i].isspace(): i += 1; continue
    obj, i = decoder.raw_decode(text, i); runs.append(obj)
label = sys.argv[1]
med = lambda f: statistics.median(f(r) for r in runs)
r0 = runs[0]
passes = r0["passes"]; ex = r0["exchange"]
per_pass = med(lambda r: r["timing"]["fit_s"] / max(1, r["passes"]))
exchange_ms = med(lambda r: 1e3 * r["exchange"]["seconds"] / max(1, r["exchange"]["count"])) if ex["count"] else 0
fastest_ms = med(lambda r: 1e3 * r["exchange"]["fastest_seconds"])
cells = [label, "%d x %d" % (r0["ranks"], r0["threads"]), r0["mode"], "%.2f" % med(lambda r: r["time_s"]),
         str(passes), "%.3f" % per_pass, "%.3f / %.3f" % (exchange_ms, fastest_ms), str(ex["bytes_sent"]), repr(r0["params"][1]["value"])]
print("| " + " | ".join(cells) + " |")
' "$label"
}

echo "## Distributed fits (MPI)"
echo
echo "Command: \`bench/mpi.sh\` (BENCH_REPEATS=$repeats; medians). $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $("${mpirun[@]}" --version | head -1), $(date -u +%Y-%m-%d), load average before the runs $(cut -d' ' -f1 /proc/loadavg)."
echo "Model exponential, 3 parameters. Per pass: fit time / passes (includes the subsample fit, spread over the passes)."
echo "Exchange: one reduction of the partial factors per pass (rank 0's time, mean and fastest of the fit's; 0 for one process); bytes: the most rank 0 sends in one pass."
echo "Beyond 2 ranks the 2 cores are oversubscribed: those rows show correctness (same b to the last bit), not speed."
echo
echo "| data | ranks x threads | mode | wall s | passes | s/pass | exchange ms (mean / fastest) | bytes sent/pass | b |"
echo "|---|---|---|---|---|---|---|---|---|"
for mode in stream memory; do
  measure "$points" 0 fit "$big" --model exponential --mode "$mode" --threads 1
  measure "$points" 0 fit "$big" --model exponential --mode "$mode" --threads 2
  measure "$points" 2 fit "$big" --model exponential --mode "$mode" --threads 1
done
for ranks in 0 1 2 3 4; do
  measure 1e6 "$ranks" fit "$small" --model exponential --mode memory --threads 1
done
echo
echo "Load average after the runs: $(cut -d' ' -f1 /proc/loadavg)."
