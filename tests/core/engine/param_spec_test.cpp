#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"
#include "core/engine/param_spec.h"

namespace curvefit {
namespace {

TEST(ParamSpec, NamedValues) {
  const auto v = parse_named_values("a=1, b=-2.5e-3,c=+4", "--p0");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].name, "a");
  EXPECT_EQ(v[0].value, 1.0);
  EXPECT_EQ(v[1].value, -2.5e-3);
  EXPECT_EQ(v[2].value, 4.0);
}

TEST(ParamSpec, NamedRanges) {
  const auto r = parse_named_ranges("a=0:inf,b=-1:1,c=-inf:2", "--bounds");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].lower, 0.0);
  EXPECT_TRUE(std::isinf(r[0].upper) && r[0].upper > 0);
  EXPECT_EQ(r[1].lower, -1.0);
  EXPECT_TRUE(std::isinf(r[2].lower) && r[2].lower < 0);
}

TEST(ParamSpec, BadTextIsAUsageErrorNamingIt) {
  auto message = [](auto f) {
    try {
      f();
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([] { parse_named_values("a=1,b", "--p0"); }), "--p0: 'b' is not of the form name=value");
  EXPECT_EQ(message([] { parse_named_ranges("a", "--bounds"); }), "--bounds: 'a' is not of the form name=lower:upper");
  EXPECT_EQ(message([] { parse_named_values("a=x1", "--p0"); }), "--p0: 'x1' is not a number");
  EXPECT_EQ(message([] { parse_named_values("a=1,a=2", "--p0"); }), "--p0: 'a' given twice");
  EXPECT_EQ(message([] { parse_named_values("", "--p0"); }), "--p0: empty value");
  EXPECT_EQ(message([] { parse_named_values("a=nan", "--p0"); }), "--p0: 'nan' is not a number");
  EXPECT_EQ(message([] { parse_named_ranges("a=2:1", "--bounds"); }),
            "--bounds: the lower bound of 'a' must be less than its upper bound");
  EXPECT_EQ(message([] { parse_named_ranges("a=2", "--bounds"); }),
            "--bounds: 'a=2' is not of the form name=lower:upper");
  EXPECT_EQ(message([] { param_index({"a", "b"}, "c", "--fix"); }),
            "--fix: unknown parameter 'c' (the model has a, b)");
  // A newline in the text (found by tests/fuzz/spec_fuzz.cpp) is escaped: the message stays one line.
  EXPECT_EQ(message([] { parse_named_values("\nfeI18", "--p0"); }),
            "--p0: '\\nfeI18' is not of the form name=value");
}

}  // namespace
}  // namespace curvefit
