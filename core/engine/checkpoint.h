#pragma once
// Checkpoints of a fit (`curvefit fit --checkpoint FILE`, `--resume FILE`; docs/checkpoint.md).
// A checkpoint holds the solver's state at an accepted point of either stage (the subsample fit or
// the full fit; solvers/options.h SolverState), what the full fit took over from the subsample
// fit, and the problem's fingerprint: the data's identity and every setting that changes the
// answer. fit() continues from it to the parameters and covariance of the uninterrupted run, bit
// for bit, and refuses it for any other problem.
//
// Not in the fingerprint, because they do not change the bits: the number of threads (the chunked
// objective combines slots in a fixed tree) and the mode (memory, chunked and stream fold the same
// chunks), as long as the chunk size and whether trial points are linearized stay the same; a
// resumed fit uses the checkpoint's mode and chunk size unless told otherwise.
//
// Doubles are written as the shortest text that reads back to the same bits (std::to_chars), as
// JSON strings so that inf and nan survive.
#include <cstddef>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json_fwd.hpp>

#include "core/engine/planner.h"
#include "solvers/options.h"

namespace curvefit {

struct FitRequest;

// One thing the answer depends on: its name (for messages) and its value as text.
struct FingerprintEntry {
  std::string name;
  std::string value;
};
using Fingerprint = std::vector<FingerprintEntry>;

// A data file's identity: its absolute path, size, modification time (ns) and an FNV-1a 64-bit
// hash of its first and last 64 KiB. Throws IoError when it cannot be read.
Fingerprint data_identity(const std::string& path);

// The request's data (data_identity of request.settings.data when that is a file), settings, and
// the two things of the plan that change the bits: the objective's chunk size and where the
// Jacobian is evaluated at trial points (`trial_jacobians`, e.g. "full fit yes, subsample fit no").
Fingerprint problem_fingerprint(const FitRequest& request, std::size_t chunk_rows, const std::string& trial_jacobians);

// UsageError "<file>: the checkpoint is of another problem: <name> is <saved> there, <current>
// here" for the first entry that differs.
void check_same_problem(const Fingerprint& saved, const Fingerprint& current, const std::string& file);

enum class FitStage { subsample, full };

struct FitCheckpoint {
  Fingerprint problem;
  FitMode mode = FitMode::memory;   // the plan's (a resumed fit uses it unless told otherwise)
  std::size_t chunk_rows = 0;       // the chunk size the objective used
  FitStage stage = FitStage::full;  // which fit `solver` belongs to
  // The subsample fit's outcome, once the full fit runs after one.
  int subsample_nfev = 0;
  std::size_t subsample_rows = 0;
  Eigen::VectorXd subsample_start;  // where it started (the report's init); empty: none
  long passes = 0;                  // passes over the full data so far
  SolverState solver;
};

nlohmann::json checkpoint_to_json(const FitCheckpoint& checkpoint);
// Throws std::runtime_error naming what is missing or malformed.
FitCheckpoint checkpoint_from_json(const nlohmann::json& json);

// A double as the shortest text that reads back to the same bits, and back.
std::string exact_text(double value);
double exact_value(const std::string& text);

}  // namespace curvefit
