// `curvefit inspect` end to end: runs the built binary on files written here and checks what it
// prints on stdout and stderr and its exit code (0, 2 for usage, 3 for bad data).
#include <H5Cpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/cli_util.h"

namespace {

using ::testing::HasSubstr;
using curvefit::cli::RunResult;
using curvefit::cli::run;

class Inspect : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir_ / name;
    curvefit::cli::write_text(path, content);
    return path;
  }
  curvefit::cli::TempDir dir_;
};

TEST_F(Inspect, CsvListsColumnsTheirTypesAndTheRowCount) {
  auto path = write("d.csv", "# measured\ntime;signal;label\n0.5;1e3;a\n\n1.5;nan;b\n2.5;7;c\n");
  const RunResult result = run({"inspect", path});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(result.out, path + ": CSV, delimiter ';', header row (line 2), 3 data rows\n"
                                  "  column  name    type\n"
                                  "  1       time    numeric\n"
                                  "  2       signal  numeric\n"
                                  "  3       label   text\n");
}

TEST_F(Inspect, CsvFromStdinWithoutHeaderCountsEveryRow) {
  auto path = write("d.txt", "1 2\n3 4\n5 6\n");
  const RunResult result = curvefit::cli::run_with_stdin({"inspect", "-"}, curvefit::cli::read_text(path));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("<stdin>: CSV, delimiter runs of whitespace, no header row, 3 data rows\n"));
}

TEST_F(Inspect, Hdf5ListsDatasetsTheirTypesAndShapes) {
  const std::string path = dir_ / "d.h5";
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    hsize_t n[1] = {5}, table[2] = {5, 3};
    std::vector<int> ints{1, 2, 3, 4, 5};
    std::vector<float> floats(15, 0.5f);
    file.createGroup("/g");
    file.createDataSet("/g/count", H5::PredType::NATIVE_INT32, H5::DataSpace(1, n)).write(ints.data(), H5::PredType::NATIVE_INT32);
    file.createDataSet("/table", H5::PredType::NATIVE_FLOAT, H5::DataSpace(2, table)).write(floats.data(), H5::PredType::NATIVE_FLOAT);
  }
  const RunResult result = run({"inspect", path});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, path + ": HDF5, 2 datasets\n"
                                  "  dataset   type     shape\n"
                                  "  /g/count  int32    5\n"
                                  "  /table    float32  5 x 3\n");
}

TEST_F(Inspect, BadFilesExitThreeWithOneLine) {
  auto header_only = write("h.csv", "a,b\n");
  // inspect reports rather than fits: a header without rows is shown as 0 data rows.
  const RunResult csv = run({"inspect", header_only});
  EXPECT_EQ(csv.exit_code, 0);
  EXPECT_THAT(csv.out, HasSubstr(": CSV, delimiter ',', header row (line 1), 0 data rows\n"));
  auto nul = write("nul.csv", std::string("a,b\n1,\0\n", 8));
  const RunResult binary = run({"inspect", nul});
  EXPECT_EQ(binary.exit_code, 3);
  EXPECT_EQ(binary.out, "");
  EXPECT_EQ(binary.err, "curvefit: " + nul + ":2:3: embedded NUL byte (is this a binary file?)\n");
  // The content decides: binary named .h5 without the signature is not HDF5; text named .h5 is CSV.
  auto fake = write("fake.h5", std::string("\x01\0not hdf5\n", 11));
  const RunResult hdf5 = run({"inspect", fake});
  EXPECT_EQ(hdf5.exit_code, 3);
  EXPECT_EQ(hdf5.err, "curvefit: " + fake + ": not an HDF5 file (no HDF5 signature)\n");
  auto text = write("text.h5", "t y\n1 2\n");
  EXPECT_THAT(run({"inspect", text}).out,
              HasSubstr(text + ": CSV, delimiter runs of whitespace, header row (line 1), 1 data row\n"));
  const std::string absent = dir_ / "missing.csv";
  const RunResult missing = run({"inspect", absent});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_EQ(missing.err, "curvefit: " + absent + ": cannot open: No such file or directory\n");
}

TEST_F(Inspect, CountsRecordsWithQuotedNewlinesOnceAndShowsADecimalComma) {
  auto notes = write("notes.csv", "t,note,y\n1,\"two\nlines\",2\n2,\"three\n\nlines\",4\n3,plain,6\n");
  RunResult result = run({"inspect", notes});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr(notes + ": CSV, delimiter ',', header row (line 1), 3 data rows\n"));
  auto german = write("de.csv", "\xEF\xBB\xBFZeit;Wert\r\n0,5;1,25\r\n1,5;2,75\r\n");
  result = run({"inspect", german});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, german + ": CSV, delimiter ';', decimal comma, header row (line 1), 2 data rows\n"
                                    "  column  name  type\n"
                                    "  1       Zeit  numeric\n"
                                    "  2       Wert  numeric\n");
}

TEST_F(Inspect, UsageErrorsExitTwo) {
  EXPECT_EQ(run({"inspect"}).exit_code, 2);
  auto path = write("d.csv", "1,2\n");
  const RunResult bad_delimiter = run({"inspect", "--delimiter", "abc", path});
  EXPECT_EQ(bad_delimiter.exit_code, 2);
  EXPECT_THAT(bad_delimiter.err, HasSubstr("--delimiter: expected one character"));
}

}  // namespace
