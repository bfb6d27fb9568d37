#!/usr/bin/env bash
# Fails when a function in the library, the command line or the Python module runs past 80 lines
# (a screen). Data tables are exempt by name: build_library (the model library's entries).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v ctags >/dev/null || { echo "SKIP: universal-ctags is not installed (apt-get install universal-ctags)"; exit 77; }
long=$(ctags -R --languages=C++ --kinds-C++=f --fields=+ne -x --_xformat='%{end} %{line} %{input} %{name}' \
         memory solvers core app python/src 2>/dev/null |
       awk '$1 != "-" && $1 - $2 + 1 > 80 && $4 != "build_library" {print $3 ":" $2 ": " $4 " is " $1 - $2 + 1 " lines"}')
if [ -n "$long" ]; then
  echo "$long"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed (no function over 80 lines outside the model table)"
