#include "app/error_exit.h"

#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/data/temp_files.h"
#include "core/errors.h"
#include "memory/memory_manager.h"

namespace curvefit::app {

std::pair<int, std::string> classify_current_exception() {
  return classify_exception(std::current_exception());
}

std::string error_json(int exit_code, const std::string& message) {
  const nlohmann::ordered_json out{{"status", "error"},
                                   {"success", false},
                                   {"exit_code", exit_code},
                                   {"message", message.substr(0, message.find('\n'))}};
  return out.dump(2);
}

void print_notice(const std::string& line) { std::cerr << "curvefit: " << line << "\n"; }

int report_error(bool json, std::ostream& out, std::ostream& err) {
  const auto [code, message] = classify_current_exception();
  err << "curvefit: " << message << "\n";
  if (json) out << error_json(code, message) << std::endl;
  remove_temporary_files();
  return code;
}

}  // namespace curvefit::app
