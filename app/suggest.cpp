#include "app/suggest.h"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

namespace curvefit::app {

namespace {

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string_view without_dashes(std::string_view name) {
  return name.substr(name.find_first_not_of('-'));
}

// The candidate nearest to `typed`, if within a third of its length (at least one edit); dashes do
// not count, so that -x finds --x.
std::string nearest(std::string_view typed, const std::vector<std::string>& candidates) {
  typed = without_dashes(typed);
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(1, typed.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t distance = edit_distance(typed, without_dashes(candidate));
    if (distance < best_distance) best = candidate, best_distance = distance;
  }
  return best;
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    for (const std::string& name : option->get_snames()) names.push_back("-" + name);
  }
  return names;
}

// "--plto=a.svg" -> "--plto"; values such as "-1:1" or "-" are not options.
bool looks_like_option(std::string_view token) {
  return token.size() > 1 && token[0] == '-' &&
         !std::isdigit(static_cast<unsigned char>(token[1])) && token[1] != '.';
}

// The first option token of argv[begin..) that `app` does not know, with its correction.
std::string option_correction(const CLI::App& app, int begin, int argc, const char* const* argv) {
  for (int i = begin; i < argc; ++i) {
    const std::string_view token(argv[i]);
    if (token == "--") break;
    if (!looks_like_option(token)) continue;
    const std::string name(token.substr(0, token.find('=')));
    if (app.get_option_no_throw(name)) continue;
    const std::string best = nearest(name, option_names(app));
    const std::string where = app.get_parent() ? " for `" + app.get_name() + "`" : "";
    if (!best.empty()) return "unknown option " + name + where + "; did you mean " + best + "?";
  }
  return {};
}

}  // namespace

std::string suggest_correction(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    commands.push_back(sub->get_name());
  for (int i = 1; i < argc; ++i) {
    const std::string_view token(argv[i]);
    if (looks_like_option(token)) continue;  // a top-level option, checked below
    if (std::find(commands.begin(), commands.end(), token) == commands.end()) {
      const std::string best = nearest(token, commands);
      const std::string unknown = "unknown command '" + std::string(token) + "'";
      return best.empty() ? unknown + " (see curvefit --help)"
                          : unknown + "; did you mean `" + best + "`?";
    }
    const CLI::App* sub =
        app.get_subcommands([&](const CLI::App* s) { return s->get_name() == token; }).front();
    return option_correction(*sub, i + 1, argc, argv);
  }
  return option_correction(app, 1, argc, argv);
}

}  // namespace curvefit::app
