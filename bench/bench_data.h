#pragma once
// Reads the /x and /y datasets of an HDF5 file written by `curvefit generate`, for the peer and
// roofline benchmark programs (which must see exactly the data curvefit fits).
#include <H5Cpp.h>

#include <string>
#include <vector>

namespace curvefit::bench {

inline std::vector<double> read_dataset(const std::string& path, const std::string& name) {
  H5::H5File file(path, H5F_ACC_RDONLY);
  H5::DataSet dataset = file.openDataSet(name);
  hsize_t size = 0;
  dataset.getSpace().getSimpleExtentDims(&size);
  std::vector<double> values(size);
  dataset.read(values.data(), H5::PredType::NATIVE_DOUBLE);
  return values;
}

}  // namespace curvefit::bench
