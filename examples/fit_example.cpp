// Fitting from C++: y = a*exp(-b*x) + c on data held in memory. curvefit::fit plans, guesses the
// starting point and applies the model's natural bounds exactly as `curvefit fit` does.
#include <cmath>
#include <iostream>
#include <random>

#include "core/curvefit.h"

int main() {
  curvefit::FitSpec spec;
  spec.model = "exponential";
  std::vector<double> x(10000), y(x.size());
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0.0, 0.01);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = 10.0 * static_cast<double>(i) / static_cast<double>(x.size());
    y[i] = 2.0 * std::exp(-0.5 * x[i]) + 0.3 + noise(rng);
  }
  spec.x = {x};
  spec.y = y;
  const curvefit::FitResult result = curvefit::fit(spec);
  for (std::size_t j = 0; j < result.names.size(); ++j)
    std::cout << result.names[j] << " = " << result.params[static_cast<Eigen::Index>(j)] << " +/- "
              << result.stderr_[static_cast<Eigen::Index>(j)] << "\n";
  return result.success ? 0 : 1;
}
