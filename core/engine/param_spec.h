#pragma once
// Parameter specifications typed on the command line:
//   --p0 a=1,b=2      --fix a=1      --bounds a=0:inf,b=-1:1      --params a=1,b=2
// Names are checked against the model's parameters; every problem is a UsageError naming the
// text and the valid names.
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace curvefit {

struct NamedValue {
  std::string name;
  double value;
};
struct NamedRange {
  std::string name;
  double lower;
  double upper;
};

// --tie "p2_sigma = p1_sigma": a parameter given by an expression of other parameters (lmfit's
// expr). The tied parameter is not free; its value and standard error follow from the others.
struct Tie {
  std::string name;
  std::string expression;
};

// "NAME = EXPR" -> {NAME, EXPR}; UsageError unless NAME is a name and EXPR is not empty (EXPR is
// checked when the model is known). `option` names the flag in messages ("--tie").
Tie parse_tie(std::string_view text, std::string_view option);

// "a=1,b=2e-3" -> {{a,1},{b,0.002}}. `option` names the flag in messages ("--p0").
std::vector<NamedValue> parse_named_values(std::string_view text, std::string_view option);
// "a=0:inf,b=-1:1" -> ranges; "inf", "+inf", "-inf" accepted; lower < upper required.
std::vector<NamedRange> parse_named_ranges(std::string_view text, std::string_view option);
// Throws UsageError if `name` is not one of `params` (message lists them).
std::size_t param_index(const std::vector<std::string>& params, const std::string& name,
                        std::string_view option);
// A number as the command line accepts it ("1e8", "0.5", "inf"); UsageError otherwise.
double parse_number(std::string_view text, std::string_view option);

// --x-range [NAME=]LO:HI: the rows whose predictor NAME (the first without one) lies in [lo, hi],
// bounds included; a side left empty is unbounded.
struct XRange {
  std::string predictor;  // a predictor's name (x1, a formula's column) or its --x column; empty: the first
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
};

// "2:8", ":5", "2:", "-inf:1e3", "x2=0:1". Throws UsageError naming --x-range.
XRange parse_x_range(std::string_view text);

}  // namespace curvefit
