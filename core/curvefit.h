#pragma once
// curvefit's C++ API in one header: the whole fit from a FitSpec, and its parts: models (built-in
// or formulas), data sources, the planner, the fit driver, and the report. See examples/fit_example.cpp.
#include "core/data/data_open.h"     // probe_data, load_data, open_streaming, DataOptions
#include "core/errors.h"        // UsageError, DataError, ModelError, exit codes
#include "core/formula/expression.h"    // compile_formula
#include "core/engine/fit.h"           // FitRequest, FitResult, fit
#include "core/engine/fit_setup.h"     // FitSpec, fit(spec): the whole fit as `curvefit fit` does it
#include "core/data/memory_source.h" // MemoryDataSource
#include "core/model.h"         // Model
#include "core/model/model_library.h" // model_library, find_model, make_model, guess_parameters
#include "core/engine/planner.h"       // PlanRequest, Plan, make_plan
#include "core/output/report.h"        // format_report, report_json
#include "memory/memory_manager.h"
#include "memory/system_probe.h"
