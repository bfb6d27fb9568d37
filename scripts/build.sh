#!/usr/bin/env bash
# Configures and builds curvefit into build/ (executable at build/bin/curvefit, Python package in
# build/python, made importable for Debian's python3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCURVEFIT_WERROR=ON >/dev/null
cmake --build build --parallel "$(nproc)"
# `import curvefit` for Debian's python3: a .pth file in its site directory names build/python.
if [ -f build/python/curvefit/__init__.py ] && [ -x /usr/bin/python3 ]; then
  site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo mkdir -p "$site"
  echo "$PWD/build/python" | $sudo tee "$site/curvefit.pth" >/dev/null
fi
