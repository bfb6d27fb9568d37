#!/usr/bin/env bash
# Configures and builds curvefit into build/ (executable at build/bin/curvefit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCURVEFIT_WERROR=ON >/dev/null
cmake --build build --parallel "$(nproc)"
