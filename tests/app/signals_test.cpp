// The process's signal policy (app/signals.cpp, compiled in here) over the library's mapped HDF5
// data: a file cut short under a running fit ends with one line and the bad-input exit code, no
// crash. (The library installs no handler; the front end does.)
#include "app/signals.cpp"

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace curvefit::app {
namespace {

void write_contiguous(H5::H5File& file, const std::string& name,
                      const std::vector<double>& values) {
  hsize_t dims[1] = {values.size()};
  H5::DataSpace space(1, dims);
  H5::DataSet dataset = file.createDataSet(name, H5::PredType::NATIVE_DOUBLE, space);
  dataset.write(values.data(), H5::PredType::NATIVE_DOUBLE);
}

TEST(SignalsDeathTest, AFileTruncatedWhileMappedEndsWithOneLineAndExitCode3) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("curvefit_signals_" + std::to_string(::getpid()) + "_shrinks.h5"))
                               .string();
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    write_contiguous(file, "/x", std::vector<double>(200000, 1.0));
    write_contiguous(file, "/y", std::vector<double>(200000, 2.0));
  }
  EXPECT_EXIT(
      {
        install_signal_handlers();
        auto data = load_data(path, {});
        if (!data->external_columns()) std::exit(99);
        if (::truncate(path.c_str(), 4096) != 0) std::exit(98);
        volatile double sum = 0;
        for (std::size_t i = 0; i < data->rows(); i += 512) sum = sum + data->y_column()[i];
        std::exit(97);  // not reached: the lost pages raise SIGBUS
      },
      ::testing::ExitedWithCode(3),
      "shrinks.h5: the file changed or became unreadable while it was being read");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace curvefit::app
