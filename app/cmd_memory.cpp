#include "app/commands.h"

namespace curvefit::app {

// Not yet built: see the issue that introduces `curvefit memory`.
void register_memory_command(CLI::App& app, Context& context) {
  (void)app;
  (void)context;
}

}  // namespace curvefit::app
