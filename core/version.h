#pragma once
namespace curvefit {
// "0.1.0"
const char* version();
}  // namespace curvefit
