#pragma once
namespace curvefit {
// curvefit's version, e.g. "0.1.0": the project version in CMakeLists.txt, the one place it is set.
const char* version();
}  // namespace curvefit
