#include "core/version.h"
namespace curvefit {
const char* version() { return CURVEFIT_VERSION; }
}  // namespace curvefit
