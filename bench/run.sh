#!/usr/bin/env bash
# The side-by-side benchmark of issue 7 in one command (see bench/README.md):
#   bench/run.sh            build if needed, generate the data, run every contender, and replace the
#                           section "## Peers and scaling" of bench/RESULTS.md
#   bench/run.sh --smoke    seconds: m = 1e4 only, one repetition, written to a temporary file;
#                           checks that the harness works (exit 77 = skipped: scipy/h5py missing)
# Environment: BENCH_DIR (data, default /tmp/curvefit-bench), BENCH_LARGE=1 (also m = 1e8 from HDF5
# with --memory-limit 256MB), BENCH_HUGE=1 (also m = 1e9, a 16 GB file generated once in BENCH_DIR,
# one run under --memory-limit 256MB; minutes), BENCH_REPEATS (default 3), BENCH_BUILD_DIR (default <source>/build),
# BENCH_RESULTS (default bench/RESULTS.md), BENCH_PYTHON (default /usr/bin/python3).
set -euo pipefail

source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BENCH_BUILD_DIR:-$source_dir/build}"
data_dir="${BENCH_DIR:-/tmp/curvefit-bench}"
python="${BENCH_PYTHON:-/usr/bin/python3}"   # Debian's, with python3-scipy and python3-h5py (a pyenv python3 has neither)
smoke=0
for argument in "$@"; do
  case "$argument" in
    --smoke) smoke=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$argument' (try --help)" >&2; exit 2 ;;
  esac
done

have_peers() { [ -x "$python" ] && "$python" -c 'import numpy, scipy.optimize, h5py, pandas' 2>/dev/null; }
if ! have_peers; then
  if [ "$smoke" = 1 ]; then
    echo "SKIP: bench smoke needs $python with numpy, scipy, h5py and pandas (scripts/deps.sh installs them)"
    exit 77
  fi
  echo "bench/run.sh: installing Debian's python3-scipy, python3-h5py and python3-pandas for the peers" >&2
  apt-get install -y python3-numpy python3-scipy python3-h5py python3-pandas >&2
  have_peers || { echo "bench/run.sh: scipy/h5py/pandas still missing for $python" >&2; exit 1; }
fi

# Build only what the benchmark runs (ninja does nothing when it is up to date); never more than 2 jobs.
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
targets=(curvefit bench_pass bench_ceres_fit bench_transfer_cost)
# The GSL peer exists only where CMake found GSL (libgsl-dev).
# (grep without -q reads the whole list: an early exit would make ninja fail on SIGPIPE under pipefail.)
if cmake --build "$build_dir" --target help | grep bench_gsl_fit >/dev/null; then targets+=(bench_gsl_fit); fi
cmake --build "$build_dir" -j 2 --target "${targets[@]}" >&2

if [ "$smoke" = 1 ]; then
  results="$(mktemp "${TMPDIR:-/tmp}/curvefit-bench-smoke-XXXXXX.md")"
  data_dir="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/curvefit-bench-smoke-XXXXXX")}"
  trap 'rm -f "$results"; [ -n "${BENCH_DIR:-}" ] || rm -rf "$data_dir"' EXIT
  "$python" "$source_dir/bench/harness.py" --smoke --repeats 1 --build-dir "$build_dir" --data-dir "$data_dir" \
    --results "$results" --python "$python" --command "bench/run.sh --smoke"
  # The harness exits non-zero if any contender failed; also check that a table came out.
  grep -q '^## Peers and scaling' "$results"
  rows=$(grep -c '^| [a-z_]* | 1e4 |' "$results" || true)
  cat "$results"
  [ "$rows" -ge 10 ] || { echo "bench smoke: only $rows table rows" >&2; exit 1; }
  echo "bench smoke: $rows rows, harness OK"
  exit 0
fi

command="bench/run.sh"
[ "${BENCH_LARGE:-0}" = 1 ] && command="BENCH_LARGE=1 $command"
[ "${BENCH_HUGE:-0}" = 1 ] && command="BENCH_HUGE=1 $command"
large=()
[ "${BENCH_LARGE:-0}" = 1 ] && large+=(--large)
[ "${BENCH_HUGE:-0}" = 1 ] && large+=(--huge)
exec "$python" "$source_dir/bench/harness.py" --repeats "${BENCH_REPEATS:-3}" "${large[@]}" \
  --build-dir "$build_dir" --data-dir "$data_dir" --results "${BENCH_RESULTS:-$source_dir/bench/RESULTS.md}" \
  --python "$python" --command "$command"
