#!/usr/bin/env bash
# Sanitizer builds of the test suite (CI runs this after scripts/test.sh; needs scripts/deps.sh).
#
#   build-asan: AddressSanitizer + UndefinedBehaviorSanitizer (UB is fatal), the whole ctest suite
#     except the labels python (the module would load into an uninstrumented interpreter) and
#     install (the installed example links the instrumented libraries without the sanitizer
#     runtime), the two tests that run curvefit under an address-space rlimit (ulimit -v:
#     ASan's shadow memory needs terabytes of address space), and the tests that hold the
#     process's peak RSS to the planner's prediction or to a memory limit (MemoryLimit.*,
#     MemoryCgroup.*, and three peak checks): ASan's shadow memory, redzones and quarantine add tens
#     of MB to the RSS, so those figures say nothing about curvefit there). The 2 GB spill test runs
#     on request only, as in the ordinary suite. The MPI tests (FitMpi*, with the srun ones on the
#     local Slurm cluster of scripts/slurm_local.sh, as in scripts/test.sh) run after the rest, all
#     of them under ASan and UBSan, in two groups:
#       - leak-checked: one test for each path of core/engine/distributed.cpp (in-RAM and streamed
#         reductions, CSV byte ranges and shards, the subsample, a bad row, profile intervals, an
#         interrupt, srun). Their allocation stacks are unwound in full (fast_unwind_on_malloc=0:
#         Open MPI is uninstrumented and has no frame pointers) so that scripts/lsan_mpi.supp can
#         name Open MPI's own libraries in the setup allocations it never frees.
#       - the rest, with leak detection off: full unwinding on every malloc made them take three
#         times as long (30 s against 9 s for one test; ~10 of CI's 45 minutes), for paths the
#         first group already checks for leaks.
#   build-tsan: ThreadSanitizer, only the test programs labelled <layer>_threads (chunked objective,
#     read-ahead, parallel CSV parse and spill, memory pool, thread bit-identity of fits and
#     formulas), with the suppressions of scripts/tsan.supp.
#
# Both at -O1. Usage: scripts/sanitize.sh [asan|tsan]... (default: both).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# RelWithDebInfo, whose flags CMakeLists.txt leaves to the cache (it pins Release's to -O2). No
# -Werror here: under instrumentation GCC 12 warns -Wmaybe-uninitialized inside libstdc++'s
# <regex>; the ordinary build keeps warnings as errors.
configure() {  # build dir, sanitizer list
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCURVEFIT_SANITIZE="$2" -DCURVEFIT_WERROR=OFF \
    -DCURVEFIT_BUILD_BENCH=OFF -DCURVEFIT_PYTHON=OFF >/dev/null
}

# The MPI tests whose leaks are checked (see above): a path of distributed.cpp each.
mpi_leak_checked='^(FitMpi\.(Hdf5StreamedAndChunkedAreBitIdenticalAcrossRanks|PandasCsvShardsWithAFormulaNamingColumnsAreBitIdenticalAcrossRanks|LargeCsvTakesTheSingleProcessSubsampleAcrossRanks|BadRowOnOneRankEndsEveryRankWithItsMessage|ProfileIntervalsAndRobustCovarianceAreBitIdenticalAcrossRanks)|FitMpiMidPass\.SigintToOneRankStopsEveryRankAtTheSameIteration|FitMpiSrun\.Hdf5IsBitIdenticalFor2And3Tasks)$'

run_asan() {
  configure build-asan address,undefined
  cmake --build build-asan --parallel "$jobs"
  # libstdc++'s std::regex recurses once per character matched, and ASan's larger frames overflow
  # the default 8 MiB stack on the SVG the plot tests search: 256 MiB for the test processes.
  (cd build-asan && { ulimit -s 262144 2>/dev/null || ulimit -s "$(ulimit -H -s)"; } &&
   ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure --parallel "$jobs" --timeout 1200 -LE 'python|install' \
     -E 'AddressSpaceRlimitIsReported|UnderAnAddressSpaceLimitTheFitSucceedsOrExits4|^MemoryLimit\.|^MemoryCgroup\.|TwentyMillionPointsStreamUnderA96MBLimit|LoadedShardsStayWithinThePredictedPeak|SelectedRowsStayWithinThePredictedPeak|^FitMpi' &&
   ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1 \
   LSAN_OPTIONS="suppressions=$PWD/../scripts/lsan_mpi.supp" \
   bash ../scripts/slurm_local.sh with ctest --output-on-failure --timeout 1800 -R "$mpi_leak_checked" &&
   ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   bash ../scripts/slurm_local.sh with ctest --output-on-failure --timeout 1800 -R '^FitMpi' -E "$mpi_leak_checked")
}

run_tsan() {
  configure build-tsan thread
  cmake --build build-tsan --parallel "$jobs" --target threads_tests
  (cd build-tsan &&
   TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=7:suppressions=$PWD/../scripts/tsan.supp" \
   ctest --output-on-failure --parallel "$jobs" --timeout 1200 -L threads)
}

for which in "${@:-asan tsan}"; do
  for w in $which; do "run_$w"; done
done
