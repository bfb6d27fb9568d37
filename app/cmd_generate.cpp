// `curvefit generate`: synthetic data with known truth from a built-in model (or, once formulas
// are merged into make_model, a formula), written in chunks to CSV or HDF5.
#include <iostream>
#include <memory>

#include "app/commands.h"
#include "core/engine/distributed.h"
#include "core/errors.h"
#include "core/model/generate.h"
#include "core/model/model_library.h"

namespace curvefit::app {
namespace {

struct GenerateArguments {
  std::string model;
  std::string points;
  std::string out;
  std::string params;
  double noise = 0;
  std::uint64_t seed = 1;
  std::string x_range;
  std::size_t chunk_points = 1 << 20;
  bool quiet = false;
};

void write_generated(const GenerateArguments& args) {
  const std::unique_ptr<Model> model = make_model(args.model);
  const ModelInfo* info = find_model(args.model);  // null for a formula: no example parameters
  GenerateSpec spec;
  spec.points = parse_point_count(args.points);
  spec.params = parse_parameter_values(args.params, model->param_names(),
                                       info ? info->example : std::vector<double>{});
  spec.noise_sd = args.noise;
  spec.seed = args.seed;
  if (!args.x_range.empty()) {
    std::tie(spec.x_min, spec.x_max) = parse_range(args.x_range);
  } else if (info) {
    spec.x_min = info->x_min;
    spec.x_max = info->x_max;
  }
  spec.chunk_points = args.chunk_points;
  spec.model_label = args.model;
  output_format_for(args.out);  // reject a bad extension before any work
  generate_data(*model, spec, args.out);
  if (!args.quiet) std::cerr << "curvefit: wrote " << spec.points << " points of " << args.model << " to " << args.out << "\n";
}

// Under mpirun every rank runs the command: rank 0 alone writes the file (several writers of one
// path would race), and every rank ends with its outcome.
void run_generate(const GenerateArguments& args) {
  Distributed& world = distributed();
  world.run_agreed([&] {
    if (world.is_root()) write_generated(args);
  });
}

}  // namespace

void register_generate_command(CLI::App& app, Context& context) {
  auto args = std::make_shared<GenerateArguments>();
  auto* command = app.add_subcommand("generate", "Write synthetic data with known parameters (CSV or HDF5)");
  command->add_option("--model", args->model, "built-in model name (see `curvefit models`)")->required();
  command->add_option("--points", args->points, "number of points, e.g. 1000 or 1e8")->required();
  command->add_option("--out", args->out, "output file: .csv (columns x,y or x1,x2,y) or .h5 (/x, /y or /x1, /x2, /y)")
      ->required();
  command->add_option("--params", args->params, "true parameters, e.g. a=1,b=2 (default: the model's example)");
  command->add_option("--noise", args->noise, "standard deviation of Gaussian noise added to y (default 0)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--seed", args->seed, "noise seed (default 1); the same seed gives the same data");
  command->add_option("--x-range", args->x_range,
                      "lo:hi range of x (each predictor); default the model's; one predictor: evenly "
                      "spaced; two: a square grid filled row by row");
  command->add_option("--chunk-points", args->chunk_points, "points held in memory at once (default 1048576); "
                                                            "does not change the data")
      ->check(CLI::PositiveNumber);
  command->add_flag("-q,--quiet", args->quiet, "print nothing but errors");
  command->callback([args, &context] {
    run_generate(*args);
    context.exit_code = 0;
  });
}

}  // namespace curvefit::app
