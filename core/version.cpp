#include "core/version.h"
namespace curvefit {
const char* version() { return "0.1.0"; }
}  // namespace curvefit
