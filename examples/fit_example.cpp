// Fitting from C++: y = a*exp(-b*x) + c on data held in memory, with the built-in model's guess.
#include <cmath>
#include <iostream>
#include <random>

#include "core/curvefit.h"

int main() {
  using namespace curvefit;
  std::vector<double> x(10000), y(x.size());
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0.0, 0.01);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = 10.0 * static_cast<double>(i) / static_cast<double>(x.size());
    y[i] = 2.0 * std::exp(-0.5 * x[i]) + 0.3 + noise(rng);
  }
  const ModelInfo& info = *find_model("exponential");
  std::unique_ptr<Model> model = make_builtin_model(info);
  const double* xs[] = {x.data()};
  const std::vector<double> guess = guess_parameters(info, xs, y.data(), y.size());

  MemoryDataSource data({x}, y);
  FitRequest request;
  request.model = model.get();
  request.data = &data;
  request.p0 = Eigen::Map<const Eigen::VectorXd>(guess.data(), static_cast<Eigen::Index>(guess.size()));
  PlanRequest plan;
  plan.rows = data.rows();
  plan.model_params = model->num_params();
  plan.memory_limit_bytes = std::size_t{1} << 30;
  request.plan = make_plan(plan);
  const FitResult result = fit(request);
  for (std::size_t j = 0; j < result.names.size(); ++j)
    std::cout << result.names[j] << " = " << result.params[static_cast<Eigen::Index>(j)] << " +/- "
              << result.stderr_[static_cast<Eigen::Index>(j)] << "\n";
  return result.success ? 0 : 1;
}
