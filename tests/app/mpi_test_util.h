#pragma once
// What the mpirun and srun tests share: their small example data and the exact comparison of a
// fit across ranks with the one-process fit.
#include <string>

#include "tests/app/cli_util.h"

namespace curvefit::cli {

constexpr int kMpiPoints = 3001;         // 76 chunks of 40 rows: 64 slots, some with two chunks
constexpr const char* kMpiChunk = "40";  // shared unevenly between the ranks

// data.h5 and data.csv in `dir`: the exponential model's example (5, 0.5, 1), noise 0.05, seed 7.
inline void generate_mpi_example_data(const TempDir& dir) {
  for (const char* name : {"data.h5", "data.csv"}) {
    const RunResult g = run({"generate", "--model", "exponential", "--points", std::to_string(kMpiPoints), "--noise",
                             "0.05", "--seed", "7", "--out", dir / name, "-q"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
  }
}

// Every number that must not depend on the ranks, compared exactly (the JSON holds each double's
// shortest round-trip text).
inline void expect_same_fit(const nlohmann::json& reference, const nlohmann::json& fit, const std::string& label) {
  ASSERT_EQ(reference.at("params").size(), fit.at("params").size()) << label;
  for (std::size_t j = 0; j < reference.at("params").size(); ++j) {
    EXPECT_EQ(reference["params"][j].at("value").get<double>(), fit["params"][j].at("value").get<double>()) << label;
    EXPECT_EQ(reference["params"][j].at("stderr").get<double>(), fit["params"][j].at("stderr").get<double>()) << label;
  }
  EXPECT_EQ(reference.at("covariance"), fit.at("covariance")) << label;
  EXPECT_EQ(reference.at("cost").get<double>(), fit.at("cost").get<double>()) << label;
  EXPECT_EQ(reference.at("n_points"), fit.at("n_points")) << label;
}

}  // namespace curvefit::cli
