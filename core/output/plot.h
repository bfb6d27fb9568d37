#pragma once
// An SVG plot of a fit: the data, the fitted curve and a residual panel. Data arrive in chunks, so
// any number of points can be plotted: each pixel column keeps the minimum and maximum of the data
// and of the residuals (an envelope), and the first few thousand points are also kept to be drawn
// individually when the data are small. The file therefore stays small for a billion points.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace curvefit {

class PlotBuilder {
 public:
  // x_min..x_max: the range of the (first) predictor over the whole data set.
  PlotBuilder(double x_min, double x_max, int width = 900, int height = 640);

  // One chunk: predictor values, observations and fitted values.
  void add(const double* x, const double* y, const double* fit, std::size_t n);

  // Evaluates the model at n predictor values (for the fitted curve); empty when the model has
  // more than one predictor (then the fitted values are drawn as an envelope instead).
  using CurveFn = std::function<void(const double* x, std::size_t n, double* out)>;

  // The finished SVG document.
  std::string svg(const CurveFn& curve, const std::string& title, const std::string& x_label,
                  const std::string& y_label) const;

  static constexpr std::size_t kMaxIndividualPoints = 4000;

 private:
  struct Envelope {
    double lo, hi;
    bool empty() const;
    void add(double v);
  };
  int column_of(double x) const;

  double x_min_, x_max_;
  int width_, height_;
  int plot_columns_;
  std::vector<Envelope> data_, fitted_, residual_;
  std::vector<double> px_, py_, pr_;  // individual points while few
  std::size_t count_ = 0;
};

}  // namespace curvefit
