#!/usr/bin/env bash
# Distributed fits (issue 14) on this machine: 1e8 points from HDF5 fitted by one process and by
# `mpirun -np 2` (one thread per rank), in memory and streaming modes; then 1 to 4 ranks on 1e6
# points for the communication model (docs/scaling.md). Prints a Markdown section for
# bench/RESULTS.md ("## Distributed fits (MPI)"): median wall time, passes, time per pass, the time
# of one exchange of partial factors (after the ranks agreed on the pass's status: the reduction,
# not the wait for the slowest rank) and the bytes rank 0 sends per pass.
#
# Then a CSV of BENCH_CSV_POINTS (default 1e7) points fitted by 1 to 4 ranks: each rank reads
# only its byte ranges of the text; the table gives the bytes each rank read (the fit's note) as a
# fraction of the file, against the 2/K a rank's scan and rows cost. BENCH_MPI_PARTS ("hdf5 csv")
# picks the sections.
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
if [[ " ${BENCH_MPI_PARTS:-hdf5 csv} " == *" hdf5 "* ]]; then
  [ -f "$big" ] || "$curvefit" generate --model exponential --points "$points" --noise 0.05 --out "$big" -q
  [ -f "$small" ] || "$curvefit" generate --model exponential --points 1e6 --noise 0.05 --out "$small" -q
fi
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

# One CSV configuration once: wall time, the read phase, and the bytes every rank read.
measure_csv() {
  local ranks="$1"; shift
  local json
  if [ "$ranks" = 0 ]; then json="$("$curvefit" "$@" --json)"; else json="$("${mpirun[@]}" -np "$ranks" "$curvefit" "$@" --json)"; fi
  printf '%s' "$json" | "$python" -c '
import json, os, sys
r = json.load(sys.stdin)
size = os.path.getsize(sys.argv[1])
note = next((n for n in r["notes"] if n.startswith("CSV split by byte ranges")), None)
if note:
    read = [int(b) for b in note.split("per rank ")[1].split(" of ")[0].split()]
    fractions = " ".join("%.2f" % (b / size) for b in read)
    model = "%.2f" % (2 / len(read))
else:
    fractions, model = "1 (one process parses it all)", "1"
cells = ["%d x %d" % (r["ranks"], r["threads"]), r["mode"], "%.2f" % r["time_s"], "%.2f" % r["timing"]["read_s"],
         fractions, model, repr(r["params"][1]["value"])]
print("| " + " | ".join(cells) + " |")
' "$csv"
}

parts="${BENCH_MPI_PARTS:-hdf5 csv}"
if [[ " $parts " == *" csv "* ]]; then
  csv_points="${BENCH_CSV_POINTS:-1e7}"
  csv="$data_dir/mpi_$csv_points.csv"
  [ -f "$csv" ] || "$curvefit" generate --model exponential --points "$csv_points" --noise 0.05 --out "$csv" -q
  echo "## Distributed fits of a CSV (MPI, byte ranges)"
  echo
  echo "Command: \`BENCH_MPI_PARTS=csv bench/mpi.sh\` (one run each). $(nproc) cores, $("${mpirun[@]}" --version | head -1), $(date -u +%Y-%m-%d), load average before the runs $(cut -d' ' -f1 /proc/loadavg)."
  echo "$csv_points points of exponential in a $(du -h "$csv" | cut -f1) CSV, in-memory mode, one thread per rank, --p0 given (no guess)."
  echo "Bytes read: each rank's scan of its 1/K of the text, its rows' parse and the row searches, as a fraction of the file (every rank also reads the first MB to detect the dialect)."
  echo
  echo "| ranks x threads | mode | wall s | read s | bytes read per rank / file | 2/K | b |"
  echo "|---|---|---|---|---|---|---|"
  for ranks in 0 2 3 4; do
    measure_csv "$ranks" fit "$csv" --model exponential --mode memory --threads 1 --p0 a=4,b=0.4,c=2
  done
  echo
fi
[[ " $parts " == *" hdf5 "* ]] || exit 0

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
