#pragma once
// curvefit's C++ API in one header: models (built-in or formulas), data sources, the planner and
// the fit driver, and the report. See examples/fit_example.cpp.
#include "core/data_open.h"     // probe_data, load_data, open_streaming, DataOptions
#include "core/errors.h"        // UsageError, DataError, ModelError, exit codes
#include "core/expression.h"    // compile_formula
#include "core/fit.h"           // FitRequest, FitResult, fit
#include "core/memory_source.h" // MemoryDataSource
#include "core/model.h"         // Model
#include "core/model_library.h" // model_library, find_model, make_model, guess_parameters
#include "core/planner.h"       // PlanRequest, Plan, make_plan
#include "core/report.h"        // format_report, report_json
#include "memory/memory_manager.h"
#include "memory/system_probe.h"
