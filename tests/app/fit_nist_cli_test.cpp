// The 27 NIST StRD nonlinear regression problems through the command line: each dataset written
// to a CSV, its model typed as a formula, both starting points given with --p0, method trf. Every
// run must reach LRE >= 6 against the certified values, as the solver tests do.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/cli_util.h"
#include "solvers/nist_problems.h"

namespace curvefit::cli {
namespace {

// The models of tests/data/nist/README.md in formula syntax (parameters b1..bk, predictor x;
// Nelson: x1, x2 and log(y)).
std::string formula(const std::string& name) {
  static const std::map<std::string, std::string> formulas = {
      {"Misra1a", "b1*(1 - exp(-b2*x))"},
      {"BoxBOD", "b1*(1 - exp(-b2*x))"},
      {"Chwirut1", "exp(-b1*x)/(b2 + b3*x)"},
      {"Chwirut2", "exp(-b1*x)/(b2 + b3*x)"},
      {"Lanczos1", "b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"},
      {"Lanczos2", "b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"},
      {"Lanczos3", "b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"},
      {"Gauss1", "b1*exp(-b2*x) + b3*exp(-(x - b4)^2/b5^2) + b6*exp(-(x - b7)^2/b8^2)"},
      {"Gauss2", "b1*exp(-b2*x) + b3*exp(-(x - b4)^2/b5^2) + b6*exp(-(x - b7)^2/b8^2)"},
      {"Gauss3", "b1*exp(-b2*x) + b3*exp(-(x - b4)^2/b5^2) + b6*exp(-(x - b7)^2/b8^2)"},
      {"DanWood", "b1*x^b2"},
      {"Misra1b", "b1*(1 - (1 + b2*x/2)^(-2))"},
      {"Kirby2", "(b1 + b2*x + b3*x^2)/(1 + b4*x + b5*x^2)"},
      {"Hahn1", "(b1 + b2*x + b3*x^2 + b4*x^3)/(1 + b5*x + b6*x^2 + b7*x^3)"},
      {"Thurber", "(b1 + b2*x + b3*x^2 + b4*x^3)/(1 + b5*x + b6*x^2 + b7*x^3)"},
      {"Nelson", "b1 - b2*x1*exp(-b3*x2)"},
      {"MGH17", "b1 + b2*exp(-x*b4) + b3*exp(-x*b5)"},
      {"Misra1c", "b1*(1 - (1 + 2*b2*x)^(-1/2))"},
      {"Misra1d", "b1*b2*x/(1 + b2*x)"},
      {"Roszman1", "b1 - b2*x - atan(b3/(x - b4))/pi"},
      {"ENSO",
       "b1 + b2*cos(2*pi*x/12) + b3*sin(2*pi*x/12) + b5*cos(2*pi*x/b4) + b6*sin(2*pi*x/b4) + "
       "b8*cos(2*pi*x/b7) + b9*sin(2*pi*x/b7)"},
      {"MGH09", "b1*(x^2 + x*b2)/(x^2 + x*b3 + b4)"},
      {"Rat42", "b1/(1 + exp(b2 - b3*x))"},
      {"MGH10", "b1*exp(b2/(x + b3))"},
      {"Eckerle4", "(b1/b2)*exp(-0.5*((x - b3)/b2)^2)"},
      {"Rat43", "b1/(1 + exp(b2 - b3*x))^(1/b4)"},
      {"Bennett5", "b1*(b2 + x)^(-1/b3)"},
  };
  return formulas.at(name);
}

std::string exact(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

TEST(FitNistCli, TrfReachesLre6OnAll54RunsThroughTheCommandLine) {
  TempDir dir;
  int at6 = 0, runs = 0;
  std::vector<std::string> misses;
  std::printf("\nNIST StRD through `curvefit fit`, method trf, formulas\n%-10s %5s %6s %5s %5s  %s\n", "problem",
              "start", "LRE", "nfev", "njev", "status");
  for (const std::string& name : nist::all_names()) {
    const nist::Problem problem = nist::load(CURVEFIT_TEST_DATA_DIR "/nist", name);
    const bool two = !problem.x2.empty();
    const std::string file = dir / (name + ".csv");
    std::string text = two ? "x1,x2,y\n" : "x,y\n";
    for (std::size_t i = 0; i < problem.y.size(); ++i)
      text += exact(problem.x1[i]) + "," + (two ? exact(problem.x2[i]) + "," : "") + exact(problem.y[i]) + "\n";
    write_text(file, text);
    for (int start = 1; start <= 2; ++start) {
      const auto& s = start == 1 ? problem.start1 : problem.start2;
      std::string p0;
      for (std::size_t j = 0; j < s.size(); ++j) p0 += (j ? "," : "") + ("b" + std::to_string(j + 1)) + "=" + exact(s[j]);
      const std::vector<std::string> args = {"fit", file, "--model", formula(name), "--p0", p0, "--method", "trf",
                                             "--json", "-q"};
      const RunResult r = run(args);
      ++runs;
      double lre = 0;
      std::string status = "exit " + std::to_string(r.exit_code) + ": " + r.err;
      int nfev = 0, njev = 0;
      if (r.exit_code == 0 || r.exit_code == 1) {
        const nlohmann::json j = r.json();
        Eigen::VectorXd b(problem.n_params);
        for (int k = 0; k < problem.n_params; ++k) b[k] = param(j, "b" + std::to_string(k + 1));
        lre = nist::lre(b, problem.certified);
        status = j.at("status").get<std::string>() + ": " + j.at("message").get<std::string>();
        nfev = j.at("nfev");
        njev = j.at("njev");
      }
      std::printf("%-10s %5d %6.2f %5d %5d  %s\n", name.c_str(), start, lre, nfev, njev, status.c_str());
      if (lre >= 6) {
        ++at6;
      } else {
        misses.push_back(name + " start " + std::to_string(start) + " LRE " + std::to_string(lre) + " (" + status +
                         ")\n  " + join(args));
      }
    }
  }
  std::printf("trf through the CLI: LRE>=6 %d/%d\n", at6, runs);
  EXPECT_EQ(runs, 54);
  EXPECT_EQ(at6, runs);
  for (const auto& m : misses) ADD_FAILURE() << "missed LRE 6: " << m;
}

}  // namespace
}  // namespace curvefit::cli
