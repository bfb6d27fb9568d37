#pragma once
// "did you mean ...?" for a mistyped subcommand or option: the registered name nearest to what was
// typed (Damerau-Levenshtein distance), when it is near enough to be a typo.
#include <CLI/CLI.hpp>
#include <string>

namespace curvefit::app {

// The one-line message for an unknown subcommand ("unknown command 'fitt'; did you mean `fit`?")
// or for the first unknown option that has a near registered name; empty otherwise.
std::string suggest_correction(const CLI::App& app, int argc, const char* const* argv);

}  // namespace curvefit::app
