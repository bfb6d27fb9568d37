#!/usr/bin/env bash
# Builds curvefit and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# The srun tests (tests/app/fit_mpi_srun_test.cpp) run on a one-node Slurm cluster on this machine,
# started for them and stopped after (scripts/slurm_local.sh with). Where its daemons cannot start
# (no root, a container that forbids them), those tests skip and the rest run as usual.
cd build
bash ../scripts/slurm_local.sh with ctest --output-on-failure --parallel "$(nproc)" --timeout 600
