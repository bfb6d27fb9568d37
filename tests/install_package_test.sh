#!/usr/bin/env bash
# Installs curvefit from the build tree into a temporary prefix, builds examples/ against it with
# find_package(curvefit), runs the example and checks it recovers its known parameters.
set -euo pipefail
source_dir=$1
build_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/fit_example" | tee "$work/out.txt"
# Truth of the example's data: a = 2, b = 0.5, c = 0.3 (noise 0.01 on 10000 points).
awk '$1 == "a" && ($3 - 2.0)^2 < 1e-4 {a = 1} $1 == "b" && ($3 - 0.5)^2 < 1e-4 {b = 1}
     $1 == "c" && ($3 - 0.3)^2 < 1e-4 {c = 1} END {exit !(a && b && c)}' "$work/out.txt"
echo "1 passed, 0 failed"
