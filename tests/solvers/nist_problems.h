#pragma once
// The 27 NIST StRD nonlinear regression problems (tests/data/nist), with exact derivatives by
// Ceres Jet automatic differentiation, as DenseObjectives for the solver tests.
#include <ceres/jet.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "solvers/dense_objective.h"

namespace curvefit::nist {

struct Problem {
  std::string name;
  std::string level;
  int n_params = 0;
  std::vector<double> start1, start2, certified, certified_sd;
  double certified_rss = 0;
  std::vector<double> x1, x2, y;  // x2 only for Nelson
};

// y = f(x; b), written once as a template so that Jets give the exact Jacobian.
template <class T>
T model(const std::string& name, const T* b, double x, double x2) {
  using std::atan;
  using std::cos;
  using std::exp;
  using std::log;
  using std::pow;
  using std::sin;
  using ceres::atan;
  using ceres::cos;
  using ceres::exp;
  using ceres::log;
  using ceres::pow;
  using ceres::sin;
  const double pi = 3.14159265358979323846;
  if (name == "Misra1a" || name == "BoxBOD") return b[0] * (1.0 - exp(-b[1] * x));
  if (name == "Chwirut1" || name == "Chwirut2") return exp(-b[0] * x) / (b[1] + b[2] * x);
  if (name == "Lanczos1" || name == "Lanczos2" || name == "Lanczos3")
    return b[0] * exp(-b[1] * x) + b[2] * exp(-b[3] * x) + b[4] * exp(-b[5] * x);
  if (name == "Gauss1" || name == "Gauss2" || name == "Gauss3")
    return b[0] * exp(-b[1] * x) + b[2] * exp(-(x - b[3]) * (x - b[3]) / (b[4] * b[4])) +
           b[5] * exp(-(x - b[6]) * (x - b[6]) / (b[7] * b[7]));
  if (name == "DanWood") return b[0] * pow(T(x), b[1]);
  if (name == "Misra1b") return b[0] * (1.0 - pow(1.0 + b[1] * x / 2.0, -2.0));
  if (name == "Kirby2")
    return (b[0] + b[1] * x + b[2] * x * x) / (1.0 + b[3] * x + b[4] * x * x);
  if (name == "Hahn1" || name == "Thurber")
    return (b[0] + b[1] * x + b[2] * x * x + b[3] * x * x * x) /
           (1.0 + b[4] * x + b[5] * x * x + b[6] * x * x * x);
  if (name == "Nelson") return b[0] - b[1] * x * exp(-b[2] * x2);
  if (name == "MGH17") return b[0] + b[1] * exp(-x * b[3]) + b[2] * exp(-x * b[4]);
  if (name == "Misra1c") return b[0] * (1.0 - pow(1.0 + 2.0 * b[1] * x, -0.5));
  if (name == "Misra1d") return b[0] * b[1] * x / (1.0 + b[1] * x);
  if (name == "Roszman1") return b[0] - b[1] * x - atan(b[2] / (x - b[3])) / pi;
  if (name == "ENSO")
    return b[0] + b[1] * cos(2 * pi * x / 12) + b[2] * sin(2 * pi * x / 12) +
           b[4] * cos(2 * pi * x / b[3]) + b[5] * sin(2 * pi * x / b[3]) +
           b[7] * cos(2 * pi * x / b[6]) + b[8] * sin(2 * pi * x / b[6]);
  if (name == "MGH09") return b[0] * (x * x + x * b[1]) / (x * x + x * b[2] + b[3]);
  if (name == "Rat42") return b[0] / (1.0 + exp(b[1] - b[2] * x));
  if (name == "MGH10") return b[0] * exp(b[1] / (x + b[2]));
  if (name == "Eckerle4") return (b[0] / b[1]) * exp(-0.5 * ((x - b[2]) / b[1]) * ((x - b[2]) / b[1]));
  if (name == "Rat43") return b[0] / pow(1.0 + exp(b[1] - b[2] * x), 1.0 / b[3]);
  if (name == "Bennett5") return b[0] * pow(b[1] + x, -1.0 / b[2]);
  throw std::invalid_argument("unknown NIST problem " + name);
}

inline std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// Reads tests/data/nist/<name>.dat using the line ranges of index.csv.
inline Problem load(const std::string& dir, const std::string& name) {
  std::ifstream index(dir + "/index.csv");
  if (!index) throw std::runtime_error("cannot open " + dir + "/index.csv");
  std::string line;
  std::getline(index, line);  // header
  Problem p;
  int param_first = 0, param_last = 0, data_first = 0, data_last = 0;
  bool found = false;
  while (std::getline(index, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() < 9 || f[0] != name) continue;
    p.name = f[0];
    p.level = f[1];
    p.n_params = std::stoi(f[3]);
    std::sscanf(f[6].c_str(), "%d-%d", &param_first, &param_last);
    std::sscanf(f[7].c_str(), "%d-%d", &data_first, &data_last);
    p.certified_rss = std::stod(f[8]);
    found = true;
  }
  if (!found) throw std::runtime_error("no NIST problem " + name);
  std::ifstream dat(dir + "/" + name + ".dat");
  if (!dat) throw std::runtime_error("cannot open " + name + ".dat");
  for (int number = 1; std::getline(dat, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto w = split_ws(line);
    if (number >= param_first && number <= param_last) {
      // bK = start1 start2 certified sd
      p.start1.push_back(std::stod(w.at(2)));
      p.start2.push_back(std::stod(w.at(3)));
      p.certified.push_back(std::stod(w.at(4)));
      p.certified_sd.push_back(std::stod(w.at(5)));
    } else if (number >= data_first && number <= data_last) {
      if (name == "Nelson") {
        p.y.push_back(std::log(std::stod(w.at(0))));  // the certified fit is of log(y)
        p.x1.push_back(std::stod(w.at(1)));
        p.x2.push_back(std::stod(w.at(2)));
      } else {
        p.y.push_back(std::stod(w.at(0)));
        p.x1.push_back(std::stod(w.at(1)));
      }
    }
  }
  return p;
}

inline std::vector<std::string> all_names() {
  return {"Misra1a", "Chwirut2", "Chwirut1", "Lanczos3", "Gauss1",   "Gauss2",   "DanWood",
          "Misra1b", "Kirby2",   "Hahn1",    "Nelson",   "MGH17",    "Lanczos1", "Lanczos2",
          "Gauss3",  "Misra1c",  "Misra1d",  "Roszman1", "ENSO",     "MGH09",    "Thurber",
          "BoxBOD",  "Rat42",    "MGH10",    "Eckerle4", "Rat43",    "Bennett5"};
}

// Residuals f_i = model(x_i; b) - y_i with the exact Jacobian.
inline std::unique_ptr<DenseObjective> make_objective(const Problem& problem) {
  auto shared = std::make_shared<Problem>(problem);
  const int n = problem.n_params;
  const std::size_t m = problem.y.size();
  auto residuals = [shared](const Eigen::VectorXd& b, Eigen::VectorXd& f) {
    for (std::size_t i = 0; i < shared->y.size(); ++i) {
      const double x2 = shared->x2.empty() ? 0.0 : shared->x2[i];
      f[static_cast<Eigen::Index>(i)] = model<double>(shared->name, b.data(), shared->x1[i], x2) - shared->y[i];
    }
  };
  auto jacobian = [shared, n](const Eigen::VectorXd& b, Eigen::MatrixXd& J) {
    using Jet = ceres::Jet<double, 9>;
    Jet jb[9];
    for (int j = 0; j < n; ++j) jb[j] = Jet(b[j], j);
    for (std::size_t i = 0; i < shared->y.size(); ++i) {
      const double x2 = shared->x2.empty() ? 0.0 : shared->x2[i];
      const Jet value = model<Jet>(shared->name, jb, shared->x1[i], x2);
      for (int j = 0; j < n; ++j) J(static_cast<Eigen::Index>(i), j) = value.v[j];
    }
  };
  return std::make_unique<DenseObjective>(n, m, residuals, jacobian);
}

// Log relative error of an estimate against the certified values: the minimum over parameters
// of -log10(|x - c| / |c|), clamped to [0, 11].
inline double lre(const Eigen::VectorXd& x, const std::vector<double>& certified) {
  double worst = 11.0;
  for (std::size_t j = 0; j < certified.size(); ++j) {
    const double c = certified[j];
    const double rel = std::abs(x[static_cast<Eigen::Index>(j)] - c) / std::abs(c);
    double v = rel == 0.0 ? 11.0 : -std::log10(rel);
    if (!std::isfinite(v)) v = 0.0;
    worst = std::min(worst, std::clamp(v, 0.0, 11.0));
  }
  return worst;
}

}  // namespace curvefit::nist
