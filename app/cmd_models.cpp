// `curvefit models [--json]`: the built-in model library with formulas, parameters and bounds.
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "core/model/model_library.h"

namespace curvefit::app {
namespace {

// A bound as JSON: the number, or null where there is none (infinite).
nlohmann::json bound_json(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json library_json() {
  nlohmann::json list = nlohmann::json::array();
  for (const ModelInfo& info : model_library()) {
    nlohmann::json example = nlohmann::json::object(), bounds = nlohmann::json::object();
    for (std::size_t j = 0; j < info.param_names.size(); ++j) {
      example[info.param_names[j]] = info.example[j];
      bounds[info.param_names[j]] = {bound_json(info.bounds[j].lower), bound_json(info.bounds[j].upper)};
    }
    nlohmann::json predictors = nlohmann::json::array();
    if (info.num_predictors == 1) predictors.push_back("x");
    else for (int k = 1; k <= info.num_predictors; ++k) predictors.push_back("x" + std::to_string(k));
    list.push_back({{"name", info.name},
                    {"formula", info.formula},
                    {"params", info.param_names},
                    {"predictors", predictors},
                    {"example", example},
                    {"bounds", bounds},
                    {"x_range", {info.x_min, info.x_max}},
                    {"description", info.description}});
  }
  return list;
}

std::string bound_text(double v) {
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::ostringstream s;
  s << v;
  return s.str();
}

void print_table(std::ostream& out) {
  std::size_t width = 4;
  for (const ModelInfo& info : model_library()) width = std::max(width, info.name.size());
  out << std::left << std::setw(static_cast<int>(width) + 2) << "name" << "formula\n";
  for (const ModelInfo& info : model_library()) {
    out << std::left << std::setw(static_cast<int>(width) + 2) << info.name << info.formula << "\n";
    std::string params;
    for (std::size_t j = 0; j < info.param_names.size(); ++j) {
      std::ostringstream p;
      p << info.param_names[j] << "=" << info.example[j];
      const ParamBounds& b = info.bounds[j];
      if (std::isfinite(b.lower) || std::isfinite(b.upper))
        p << " in [" << bound_text(b.lower) << ", " << bound_text(b.upper) << "]";
      params += (j ? ", " : "") + p.str();
    }
    out << std::string(width + 2, ' ') << "  " << info.description << "; example " << params << "\n";
  }
  out << "\nPredictors are x (x1, x2 for two-predictor models). Each formula is itself a valid "
         "--model formula.\n"
         "Combine them: --model \"gaussian[p1] + gaussian[p2] + linear\" (parameters p1_a, p1_mu, ..., a, b; "
         "+ - * / and parentheses, formulas too); --tie \"p2_sigma = p1_sigma\" ties a parameter to others.\n"
         "\nFormula operators: + - * / ^ (** too), comparisons < <= > >= == != and && || ! (1 or 0).\n"
         "Functions: exp log log10 log2 sqrt abs sin cos tan asin acos atan atan2(y, x) sinh cosh tanh erf erfc\n"
         "  pow(u, v) min(u, v) max(u, v) sign floor ceil heaviside if(cond, a, b) voigt(u, sigma, gamma).\n"
         "At kinks: floor, ceil, sign, heaviside and comparisons have derivative 0; heaviside(0) = 0.5;\n"
         "  min/max and if() take the derivative of the branch they choose (min/max: the first at a tie);\n"
         "  a NaN condition or comparison gives NaN. voigt(u, sigma, gamma) = Re w((u + i gamma)/(sigma sqrt 2))\n"
         "  /(sigma sqrt(2 pi)), w the Faddeeva function (libcerf), sigma > 0: area 1, exact derivatives.\n";
}

}  // namespace

void register_models_command(CLI::App& app, Context& context) {
  auto* command = app.add_subcommand("models", "List the built-in models with formulas, parameters and bounds");
  auto json = std::make_shared<bool>(false);
  command->add_flag("--json", *json,
                    "JSON list of {name, formula, params, predictors, example, bounds, x_range, description};"
                    " bounds map each parameter to [lower, upper], null where unbounded");
  command->callback([json, &context] {
    if (*json)
      std::cout << library_json().dump(2) << "\n";
    else
      print_table(std::cout);
    context.exit_code = 0;
  });
}

}  // namespace curvefit::app
