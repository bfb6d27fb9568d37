#!/usr/bin/env bash
# Installs the Debian 12 packages curvefit builds and tests with (as root, or through sudo).
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config
  libeigen3-dev libceres-dev libtbb-dev libcli11-dev libhdf5-dev nlohmann-json3-dev
  libfast-float-dev libsleef-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev hdf5-tools libxml2-utils
  # The Faddeeva function behind the Voigt profile.
  libcerf-dev
  # Distributed fits (CURVEFIT_MPI) and their tests: Open MPI's library and mpirun.
  libopenmpi-dev openmpi-bin
  # The srun tests' one-node Slurm cluster (scripts/slurm_local.sh). Slurm's mpi/pmix plugin, the
  # only wire-up Debian's Open MPI can use, loads libpmix.so, which only libpmix-dev ships.
  slurmctld slurmd slurm-client munge libpmix-dev
  # Independent references for tests and the bench harness, and the Python module's build and
  # tests (Debian's /usr/bin/python3).
  python3-numpy python3-scipy python3-h5py python3-pandas
  # Peers in the bench harness (bench/gsl_fit.cpp, lmfit's Model.fit in bench/scipy_fit.py).
  libgsl-dev python3-lmfit
  pybind11-dev python3-dev python3-pytest python3-matplotlib
  # The layout checks (scripts/check_function_length.sh).
  universal-ctags
  # The libFuzzer harnesses (tests/fuzz/README.md); the sanitizer builds use g++'s runtimes.
  clang-14 libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
