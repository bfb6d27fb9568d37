// The mapping from exception type to exit code and message (app/error_exit.cpp, compiled in
// here): every typed error gets its documented code, and an allocation failure is the memory
// code with the memory message, never a crash or "bad data".
#include "app/error_exit.cpp"

#include <gtest/gtest.h>

#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace curvefit::app {
namespace {

template <class Error>
std::pair<int, std::string> classify(const Error& error) {
  try {
    throw error;
  } catch (...) {
    return classify_current_exception();
  }
}

TEST(ErrorExit, EachErrorTypeHasItsDocumentedCode) {
  EXPECT_EQ(classify(UsageError("u")).first, 2);
  EXPECT_EQ(classify(DataError("d")).first, 3);
  EXPECT_EQ(classify(ModelError("m")).first, 3);
  EXPECT_EQ(classify(MemoryError(std::size_t{1} << 30, 1 << 20, "--memory-limit")).first, 4);
  EXPECT_EQ(classify(IoError("out.csv: write failed: No space left on device")),
            std::make_pair(5, std::string("out.csv: write failed: No space left on device")));
}

TEST(ErrorExit, AllocationFailureIsTheMemoryCode) {
  const auto [code, message] = classify(std::bad_alloc());
  EXPECT_EQ(code, kExitMemory);
  EXPECT_NE(message.find("out of memory"), std::string::npos);
  // std::bad_array_new_length is a bad_alloc too.
  EXPECT_EQ(classify(std::bad_array_new_length()).first, kExitMemory);
}

TEST(ErrorExit, JsonErrorObjectOnStdoutAndOneLineOnStderr) {
  std::ostringstream out, err;
  int code = 0;
  try {
    throw ModelError("unknown model 'q'\n  q\n  ^");
  } catch (...) {
    code = report_error(true, out, err);
  }
  EXPECT_EQ(code, 3);
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j.at("status"), "error");
  EXPECT_EQ(j.at("success"), false);
  EXPECT_EQ(j.at("exit_code"), 3);
  EXPECT_EQ(j.at("message"), "unknown model 'q'");
  EXPECT_EQ(err.str().rfind("curvefit: unknown model 'q'", 0), 0u);
}

}  // namespace
}  // namespace curvefit::app
