#!/usr/bin/env bash
# Fails when an #include runs up a layer. Layers, lowest first: memory <- solvers <- core <- app;
# inside core: core/*.h (errors, version, the Model contract) <- data, formula <- model <- engine
# <- output. A file may include its own folder and anything listed below it (core/README.md).
set -uo pipefail
cd "$(dirname "$0")/.."
allowed_for() {
  case "$1" in
    memory/*) echo "memory" ;;
    solvers/*) echo "memory solvers" ;;
    core/data/*) echo "memory solvers core core/data" ;;
    core/formula/*) echo "memory solvers core core/formula" ;;
    core/model/*) echo "memory solvers core core/formula core/model" ;;
    core/engine/*) echo "memory solvers core core/data core/formula core/model core/engine" ;;
    core/output/*) echo "memory solvers core core/data core/formula core/model core/engine core/output" ;;
    core/*) echo "memory solvers core core/data core/formula core/model core/engine core/output" ;;
    *) echo "ANY" ;;
  esac
}
bad=0
checked=0
while IFS= read -r file; do
  allowed=$(allowed_for "$file")
  [ "$allowed" = ANY ] && continue
  checked=$((checked + 1))
  while IFS= read -r included; do
    dir=$(dirname "$included")
    ok=0
    for layer in $allowed; do [ "$dir" = "$layer" ] && ok=1; done
    if [ $ok = 0 ]; then
      echo "$file includes $included: runs up a layer"
      bad=1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done < <(git ls-files 'memory/*' 'solvers/*' 'core/*' | grep -E '\.(h|cpp)$')
[ $bad = 0 ] && echo "1 passed, 0 failed ($checked files, every include runs down)" || { echo "0 passed, 1 failed"; exit 1; }
