// The column rule (core/data/columns.h) on its own: which columns each kind of header gives, when
// it refuses, and which names of a formula are predictors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/data/columns.h"
#include "core/errors.h"

namespace curvefit {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ColumnRequest csv(std::vector<std::string> header, std::vector<std::string> predictors = {"x"}) {
  ColumnRequest request;
  request.where = "d.csv:1:1";
  request.columns = std::move(header);
  request.predictor_names = std::move(predictors);
  return request;
}

ColumnRequest hdf5(std::vector<std::string> datasets, std::vector<std::string> predictors = {"x"}) {
  ColumnRequest request = csv(std::move(datasets), std::move(predictors));
  request.where = "d.h5";
  request.source = ColumnSource::hdf5;
  return request;
}

std::string failure(const ColumnRequest& request) {
  try {
    choose_columns(request);
  } catch (const DataError& e) {
    return e.what();
  }
  return "no error";
}

std::string formula_failure(const std::vector<std::string>& names, const ColumnRequest& request) {
  try {
    formula_predictors(names, request);
  } catch (const DataError& e) {
    return e.what();
  }
  return "no error";
}

// CSV choices are 1-based positions, so that a header that looks like a number stays a name.
TEST(ChooseColumns, NamesWinOverPositions) {
  const ColumnChoice yx = choose_columns(csv({"y", "x"}));
  EXPECT_THAT(yx.x, ElementsAre("2"));
  EXPECT_EQ(yx.y, "1");
  const ColumnChoice labelled = choose_columns(csv({"idx", "x", "y", "label"}));
  EXPECT_THAT(labelled.x, ElementsAre("2"));
  EXPECT_EQ(labelled.y, "3");
  const ColumnChoice upper = choose_columns(csv({"Y", "X"}));  // case-insensitive
  EXPECT_THAT(upper.x, ElementsAre("2"));
  EXPECT_EQ(upper.y, "1");
  const ColumnChoice two = choose_columns(csv({"x2", "y", "x1"}, {"x1", "x2"}));
  EXPECT_THAT(two.x, ElementsAre("3", "1"));
  EXPECT_EQ(two.y, "2");
}

TEST(ChooseColumns, PandasIndexIsSkipped) {
  const ColumnChoice named = choose_columns(csv({"", "x", "y"}));
  EXPECT_THAT(named.x, ElementsAre("2"));
  EXPECT_EQ(named.y, "3");
  const ColumnChoice unnamed = choose_columns(csv({"Unnamed: 0", "time", "signal"}));
  EXPECT_THAT(unnamed.x, ElementsAre("2"));
  EXPECT_EQ(unnamed.y, "3");
}

TEST(ChooseColumns, PositionsFillRolesOnlyWhenExactlyAsManyColumnsRemain) {
  const ColumnChoice plain = choose_columns(csv({"time", "signal"}));
  EXPECT_THAT(plain.x, ElementsAre("1"));
  EXPECT_EQ(plain.y, "2");
  // An uncertainty column and a text column are not candidates; y is named.
  const ColumnChoice decay = choose_columns(csv({"t", "y", "sigma"}));
  EXPECT_THAT(decay.x, ElementsAre("1"));
  EXPECT_TRUE(decay.sigma.empty());
  ASSERT_EQ(decay.notes.size(), 1u);
  EXPECT_THAT(decay.notes[0], HasSubstr("--sigma sigma"));
  ColumnRequest text = csv({"time", "signal", "label"});
  text.text = {false, false, true};
  EXPECT_EQ(choose_columns(text).y, "2");
}

TEST(ChooseColumns, AmbiguityListsTheColumnsAndTheOptions) {
  EXPECT_EQ(failure(csv({"a", "b", "c"})),
            "d.csv:1:1: cannot tell which columns to fit: no column is named x or y, and 3 other columns could be "
            "(columns: a, b, c); choose with --x NAME, --y NAME (and --sigma NAME for weights)");
  EXPECT_THAT(failure(csv({"x", "x", "y"})), HasSubstr("2 columns are named 'x' (x, x)"));
  EXPECT_THAT(failure(csv({"X", "T", "x"}, {"t"})), HasSubstr("no column is named y"));
  EXPECT_THAT(choose_columns(csv({"X", "x", "y"})).x, ElementsAre("2"));  // an exact match wins
  EXPECT_THAT(failure(csv({"t", "y", "z"})), HasSubstr("no column is named x, and 2 other columns could be"));
}

TEST(ChooseColumns, OptionsPassThroughAndTakeTheirColumns) {
  ColumnRequest request = csv({"t", "signal", "err", "x"});
  request.y = "signal";
  request.sigma = "ERR";  // matches 'err' case-insensitively: becomes its position
  const ColumnChoice choice = choose_columns(request);
  EXPECT_THAT(choice.x, ElementsAre("4"));
  EXPECT_EQ(choice.y, "signal");
  EXPECT_EQ(choice.sigma, "3");
  EXPECT_TRUE(choice.notes.empty());
  // --y naming the column called x: the predictor then comes from what remains.
  ColumnRequest swapped = csv({"x", "t"});
  swapped.y = "x";
  EXPECT_THAT(choose_columns(swapped).x, ElementsAre("2"));
}

TEST(ChooseColumns, HeaderlessFilesArePositional) {
  ColumnRequest request;
  request.source = ColumnSource::csv_no_header;
  request.predictor_names = {"x1", "x2"};
  const ColumnChoice choice = choose_columns(request);
  EXPECT_THAT(choice.x, ElementsAre("1", "2"));
  EXPECT_EQ(choice.y, "3");
  request.x = {"4"};
  EXPECT_EQ(choose_columns(request).y, "2");
}

TEST(ChooseColumns, Hdf5DatasetsByTheLastPartOfTheirPath) {
  const ColumnChoice choice = choose_columns(hdf5({"/run/T", "/run/y", "/x"}, {"t"}));
  EXPECT_THAT(choice.x, ElementsAre("/run/T"));
  EXPECT_EQ(choice.y, "/run/y");
  // A root dataset wins over its namesakes in groups; two namesakes in groups are ambiguous.
  EXPECT_THAT(choose_columns(hdf5({"/a/x", "/x", "/y"})).x, ElementsAre("/x"));
  EXPECT_THAT(failure(hdf5({"/a/x", "/b/x", "/y"})), HasSubstr("2 columns are named 'x' (/a/x, /b/x)"));
  // One role left and one dataset left: no order needed.
  EXPECT_THAT(choose_columns(hdf5({"/time", "/y"})).x, ElementsAre("/time"));
  // Two left: datasets have no order, so it is ambiguous.
  EXPECT_THAT(failure(hdf5({"/time", "/signal"})), HasSubstr("2 datasets remain, in no order"));
  ColumnRequest named = hdf5({"/g/temp", "/g/rate"});
  named.x = {"TEMP"};
  named.y = "/g/rate";
  EXPECT_THAT(choose_columns(named).x, ElementsAre("/g/temp"));
}

TEST(FormulaPredictors, NamesThatAreColumnsArePredictors) {
  const ColumnRequest file = csv({"temp", "press", "conc", "rate"});
  EXPECT_THAT(formula_predictors({"A", "k", "temp", "w", "press", "B", "conc"}, file),
              ElementsAre("temp", "press", "conc"));
  // None is a column: the formula writes x (or x1, x2, ...).
  EXPECT_TRUE(formula_predictors({"a", "b", "x"}, csv({"time", "signal"})).empty());
  // --x given as names of the formula: exactly those; the other columns' names are parameters.
  ColumnRequest explicit_x = file;
  explicit_x.x = {"temp"};
  EXPECT_THAT(formula_predictors({"conc", "temp"}, explicit_x), ElementsAre("temp"));
}

TEST(FormulaPredictors, MistakesAreErrorsThatListTheColumns) {
  const ColumnRequest file = csv({"temp", "press", "rate"});
  EXPECT_EQ(formula_failure({"A", "k", "tmp"}, file),
            "d.csv:1:1: the formula uses no predictor: each of its names (A, k, tmp) would be a fitted constant; use "
            "a column's name, or write x and choose its column with --x (columns: temp, press, rate)");
  EXPECT_THAT(formula_failure({"temp", "press"}, file), HasSubstr("every name in the formula is a column"));
  EXPECT_THAT(formula_failure({"a", "temp", "x"}, file), HasSubstr("'x' is not a column"));
  EXPECT_THAT(formula_failure({"a", "temp", "Temp"}, file), HasSubstr("are the same column 'temp'"));
  ColumnRequest response = file;
  response.y = "rate";
  EXPECT_THAT(formula_failure({"a", "temp", "rate"}, response), HasSubstr("'rate' in the formula is the response"));
  ColumnRequest headerless;
  headerless.source = ColumnSource::csv_no_header;
  EXPECT_THAT(formula_failure({"a", "b"}, headerless), HasSubstr("write x (or x1, x2, ...)"));
}

TEST(FormulaPredictors, AColumnNamedLikeAConstantMustBeChosenExplicitly) {
  const ColumnRequest file = csv({"x", "e", "y"});
  EXPECT_THAT(formula_failure({"a", "e", "x"}, file), HasSubstr("'e' in the formula is the constant e, and also a column"));
  ColumnRequest named = file;
  named.x = {"e"};
  EXPECT_THAT(formula_predictors({"a", "e"}, named), ElementsAre("e"));
  // A formula that does not use the name is not affected.
  EXPECT_THAT(formula_predictors({"a", "x"}, file), ElementsAre("x"));
}

}  // namespace
}  // namespace curvefit
