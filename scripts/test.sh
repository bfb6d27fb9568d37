#!/usr/bin/env bash
# Builds curvefit and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# The srun tests (tests/app/fit_mpi_srun_test.cpp) run on a one-node Slurm cluster on this machine,
# started here and stopped on the way out (only if started here). Where its daemons cannot start
# (no root, a container that forbids them), those tests skip and the rest run as usual.
export SLURM_CONF
SLURM_CONF=$(bash scripts/slurm_local.sh conf)
if bash scripts/slurm_local.sh status >/dev/null 2>&1; then
  echo "scripts/test.sh: using the local Slurm cluster that is already up"
elif why=$(bash scripts/slurm_local.sh start 2>&1 >/dev/null); then
  trap 'bash scripts/slurm_local.sh stop >/dev/null' EXIT
  echo "scripts/test.sh: started a local Slurm cluster for the srun tests (SLURM_CONF=$SLURM_CONF)"
else
  echo "scripts/test.sh: the srun tests will skip: ${why##*$'\n'}"
fi
(cd build && ctest --output-on-failure --parallel "$(nproc)" --timeout 600)
