#pragma once
// An SVG plot of a fit: a main panel and a residual panel. Data arrive in chunks, so any number of
// points can be plotted: each pixel column keeps the minimum and maximum of the data, of their
// error bars and of the residuals (an envelope), and the first few thousand points are also kept
// to be drawn individually, error bars included, when the data are small. The file therefore
// stays small for a billion points.
//
// One predictor: data and fitted curve against x, residuals against x. Several predictors (no
// curve to draw against one of them): observed against fitted with the line observed = fitted,
// and residuals against the row number.
//
// Log axes take log10 of the coordinate; points with a non-positive coordinate on a log axis are
// left out of both panels and counted (dropped()), and the plot says how many.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace curvefit {

struct PlotScale {
  bool log_x = false;  // the main panel's horizontal axis (and the residuals' for one predictor)
  bool log_y = false;  // the main panel's vertical axis
};

class PlotBuilder {
 public:
  // One predictor: x_min..x_max is its range over the whole data set (over its positive values
  // for a log x axis).
  PlotBuilder(double x_min, double x_max, PlotScale scale = {});
  // Several predictors: fit_min..fit_max is the range of the fitted values, rows the row count.
  static PlotBuilder observed_vs_fitted(double fit_min, double fit_max, std::size_t rows,
                                        PlotScale scale = {});

  // One chunk: predictor values (ignored for observed-vs-fitted), observations, fitted values and
  // optionally the observations' standard deviations (drawn as error bars y +- sigma).
  void add(const double* x, const double* y, const double* fit, std::size_t n,
           const double* sigma = nullptr);

  // Evaluates the model at n predictor values: the fitted curve of a one-predictor plot.
  using CurveFn = std::function<void(const double* x, std::size_t n, double* out)>;

  // A band around the fitted curve of a one-predictor plot: its half-width at n predictor values
  // (the confidence band of curve_bands.h), and the legend's name for it.
  struct Band {
    CurveFn half_width;
    std::string label;
  };

  // The finished SVG document (`curve` and `band` are not used for observed-vs-fitted). The band
  // is shaded under the curve where its half-width is finite; an empty band draws nothing.
  std::string svg(const CurveFn& curve, const std::string& title, const std::string& x_label,
                  const std::string& y_label, const Band& band = {}) const;

  // Points left out because a log axis cannot show them.
  std::size_t dropped() const { return dropped_; }

  static constexpr std::size_t kMaxIndividualPoints = 4000;
  static constexpr int kWidth = 900, kHeight = 640;

 private:
  struct Envelope {
    double lo, hi;
    bool empty() const;
    void add(double v);
  };
  // A horizontal coordinate binned into pixel columns over [lo, hi] (log10 units on a log axis).
  struct Columns {
    double lo, hi;
    bool log;
    double unit(double v) const;  // the coordinate in axis units (log10 v on a log axis)
    int of(double u) const;       // the pixel column of axis units u
  };
  struct Curve {
    std::vector<double> x, y;          // axis units
    std::vector<double> lower, upper;  // the band's edges in axis units (empty: no band)
  };
  PlotBuilder(Columns main, Columns residual, bool versus_fitted, PlotScale scale);
  Curve sample_curve(const CurveFn& curve, const CurveFn& half_width) const;

  Columns main_, residual_x_;
  bool versus_fitted_;
  PlotScale scale_;
  int plot_columns_;
  // Per pixel column: data, data +- sigma and residuals, in the panel's vertical axis units.
  std::vector<Envelope> data_, error_, residual_;
  // Individual points while few: main panel (u, v), error bar ends, residual panel (u, r).
  std::vector<double> pu_, pv_, pe_lo_, pe_hi_, ru_, rr_;
  std::size_t count_ = 0, dropped_ = 0, rows_seen_ = 0;
  bool has_sigma_ = false;

  friend struct PlotScene;
};

}  // namespace curvefit
