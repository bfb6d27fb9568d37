#include "core/output/plot.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace curvefit {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kLeft = 80, kRight = 20, kTop = 40, kGap = 30, kBottom = 50;

std::string num(double v) {
  char buffer[32];
  // Two decimals are plenty for pixel coordinates and keep the file small.
  const double rounded = std::round(v * 100.0) / 100.0;
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, rounded);
  (void)ec;
  return std::string(buffer, end);
}

std::string label(double v) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general, 4);
  (void)ec;
  return std::string(buffer, end);
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
    }
  }
  return out;
}

// Tick positions at 1, 2 or 5 times a power of ten, about `target` of them.
std::vector<double> ticks(double lo, double hi, int target) {
  std::vector<double> out;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return out;
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * magnitude) {
      step = m * magnitude;
      break;
    }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    out.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

struct Axis {
  double lo, hi;       // data range
  double pixel_lo, pixel_hi;
  double operator()(double v) const {
    return pixel_lo + (v - lo) / (hi - lo) * (pixel_hi - pixel_lo);
  }
};

void pad(double& lo, double& hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi <= lo) {
    const double half = lo == 0 ? 1.0 : std::abs(lo) * 0.5;
    lo -= half;
    hi += half;
  }
  const double margin = (hi - lo) * 0.05;
  lo -= margin;
  hi += margin;
}
}  // namespace

bool PlotBuilder::Envelope::empty() const { return !(lo <= hi); }
void PlotBuilder::Envelope::add(double v) {
  if (!std::isfinite(v)) return;
  if (empty()) lo = hi = v;
  lo = std::min(lo, v);
  hi = std::max(hi, v);
}

PlotBuilder::PlotBuilder(double x_min, double x_max, int width, int height)
    : x_min_(x_min), x_max_(x_max), width_(width), height_(height) {
  plot_columns_ = std::max(1, width_ - kLeft - kRight);
  const Envelope none{kNaN, kNaN};
  data_.assign(static_cast<std::size_t>(plot_columns_), none);
  fitted_ = residual_ = data_;
  if (!(x_max_ > x_min_)) x_max_ = x_min_ + 1.0;
}

int PlotBuilder::column_of(double x) const {
  const double t = (x - x_min_) / (x_max_ - x_min_);
  return std::clamp(static_cast<int>(t * plot_columns_), 0, plot_columns_ - 1);
}

void PlotBuilder::add(const double* x, const double* y, const double* fit, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    const auto c = static_cast<std::size_t>(column_of(x[i]));
    data_[c].add(y[i]);
    fitted_[c].add(fit[i]);
    residual_[c].add(y[i] - fit[i]);
    if (count_ < kMaxIndividualPoints) {
      px_.push_back(x[i]);
      py_.push_back(y[i]);
      pr_.push_back(y[i] - fit[i]);
    }
    ++count_;
  }
}

std::string PlotBuilder::svg(const CurveFn& curve, const std::string& title,
                             const std::string& x_label, const std::string& y_label) const {
  // The fitted curve on a grid of two points per pixel column.
  std::vector<double> cx, cy;
  if (curve) {
    const std::size_t n = static_cast<std::size_t>(plot_columns_) * 2 + 1;
    cx.resize(n);
    cy.resize(n);
    for (std::size_t i = 0; i < n; ++i)
      cx[i] = x_min_ + (x_max_ - x_min_) * static_cast<double>(i) / static_cast<double>(n - 1);
    curve(cx.data(), n, cy.data());
  }
  double y_lo = std::numeric_limits<double>::infinity(), y_hi = -y_lo, r_max = 0;
  for (std::size_t c = 0; c < data_.size(); ++c) {
    if (!data_[c].empty()) y_lo = std::min(y_lo, data_[c].lo), y_hi = std::max(y_hi, data_[c].hi);
    if (!residual_[c].empty()) r_max = std::max({r_max, std::abs(residual_[c].lo), std::abs(residual_[c].hi)});
  }
  for (double v : cy)
    if (std::isfinite(v)) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v);
  double x_lo = x_min_, x_hi = x_max_;
  pad(y_lo, y_hi);
  double r_lo = -r_max, r_hi = r_max;
  pad(r_lo, r_hi);

  const int plot_right = width_ - kRight;
  const int residual_height = (height_ - kTop - kBottom - kGap) / 4;
  const int main_bottom = height_ - kBottom - kGap - residual_height;
  const Axis ax{x_lo, x_hi, static_cast<double>(kLeft), static_cast<double>(plot_right)};
  const Axis ay{y_lo, y_hi, static_cast<double>(main_bottom), static_cast<double>(kTop)};
  const Axis ar{r_lo, r_hi, static_cast<double>(height_ - kBottom), static_cast<double>(height_ - kBottom - residual_height)};
  const bool individual = count_ <= kMaxIndividualPoints;

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width_) + "\" height=\"" +
       std::to_string(height_) + "\" viewBox=\"0 0 " + std::to_string(width_) + " " + std::to_string(height_) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + std::to_string(width_ / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" +
       escape(title) + "</text>\n";

  auto frame = [&](const Axis& vertical, int top, int bottom, bool x_labels) {
    s += "<g stroke=\"#ddd\" stroke-width=\"1\">\n";
    for (double t : ticks(ax.lo, ax.hi, 8))
      s += "<line x1=\"" + num(ax(t)) + "\" y1=\"" + std::to_string(top) + "\" x2=\"" + num(ax(t)) +
           "\" y2=\"" + std::to_string(bottom) + "\"/>\n";
    for (double t : ticks(vertical.lo, vertical.hi, bottom - top > 200 ? 6 : 4))
      s += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + num(vertical(t)) + "\" x2=\"" +
           std::to_string(plot_right) + "\" y2=\"" + num(vertical(t)) + "\"/>\n";
    s += "</g>\n<g fill=\"#333\">\n";
    if (x_labels)
      for (double t : ticks(ax.lo, ax.hi, 8))
        s += "<text x=\"" + num(ax(t)) + "\" y=\"" + std::to_string(bottom + 16) +
             "\" text-anchor=\"middle\">" + label(t) + "</text>\n";
    for (double t : ticks(vertical.lo, vertical.hi, bottom - top > 200 ? 6 : 4))
      s += "<text x=\"" + std::to_string(kLeft - 6) + "\" y=\"" + num(vertical(t) + 4) +
           "\" text-anchor=\"end\">" + label(t) + "</text>\n";
    s += "</g>\n<rect x=\"" + std::to_string(kLeft) + "\" y=\"" + std::to_string(top) + "\" width=\"" +
         std::to_string(plot_right - kLeft) + "\" height=\"" + std::to_string(bottom - top) +
         "\" fill=\"none\" stroke=\"#333\"/>\n";
  };
  frame(ay, kTop, main_bottom, false);
  frame(ar, height_ - kBottom - residual_height, height_ - kBottom, true);

  auto envelope_path = [&](const std::vector<Envelope>& env, const Axis& vertical) {
    std::string d;
    for (std::size_t c = 0; c < env.size(); ++c) {
      if (env[c].empty()) continue;
      const double px = kLeft + static_cast<double>(c) + 0.5;
      double top = vertical(env[c].hi), bottom = vertical(env[c].lo);
      if (bottom - top < 1.0) top -= 0.5, bottom += 0.5;  // a visible mark even for one value
      d += "M" + num(px) + " " + num(bottom) + "V" + num(top);
    }
    return d;
  };

  // Data: points while few, else per-column min/max envelopes.
  if (individual) {
    s += "<g fill=\"#1f77b4\" fill-opacity=\"0.6\">\n";
    for (std::size_t i = 0; i < px_.size(); ++i)
      if (std::isfinite(py_[i]))
        s += "<circle cx=\"" + num(ax(px_[i])) + "\" cy=\"" + num(ay(py_[i])) + "\" r=\"2\"/>\n";
    s += "</g>\n";
  } else {
    s += "<path d=\"" + envelope_path(data_, ay) + "\" stroke=\"#1f77b4\" stroke-opacity=\"0.6\" fill=\"none\"/>\n";
  }
  // Fitted curve (or envelope of fitted values for multi-predictor models).
  if (!cy.empty()) {
    std::string d;
    bool pen_down = false;
    for (std::size_t i = 0; i < cx.size(); ++i) {
      if (!std::isfinite(cy[i])) {
        pen_down = false;
        continue;
      }
      d += (pen_down ? "L" : "M") + num(ax(cx[i])) + " " + num(std::clamp(ay(cy[i]), -1e4, 1e4));
      pen_down = true;
    }
    s += "<path d=\"" + d + "\" stroke=\"#d62728\" stroke-width=\"2\" fill=\"none\"/>\n";
  } else {
    s += "<path d=\"" + envelope_path(fitted_, ay) + "\" stroke=\"#d62728\" stroke-opacity=\"0.8\" fill=\"none\"/>\n";
  }
  // Residuals.
  s += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + num(ar(0)) + "\" x2=\"" + std::to_string(plot_right) +
       "\" y2=\"" + num(ar(0)) + "\" stroke=\"#d62728\"/>\n";
  if (individual) {
    s += "<g fill=\"#555\">\n";
    for (std::size_t i = 0; i < px_.size(); ++i)
      if (std::isfinite(pr_[i]))
        s += "<circle cx=\"" + num(ax(px_[i])) + "\" cy=\"" + num(ar(pr_[i])) + "\" r=\"1.5\"/>\n";
    s += "</g>\n";
  } else {
    s += "<path d=\"" + envelope_path(residual_, ar) + "\" stroke=\"#555\" fill=\"none\"/>\n";
  }
  // Labels and legend.
  s += "<text x=\"" + std::to_string((kLeft + plot_right) / 2) + "\" y=\"" + std::to_string(height_ - 12) +
       "\" text-anchor=\"middle\">" + escape(x_label) + "</text>\n";
  s += "<text transform=\"translate(16 " + std::to_string((kTop + main_bottom) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + escape(y_label) + "</text>\n";
  s += "<text transform=\"translate(16 " + std::to_string(height_ - kBottom - residual_height / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">residual</text>\n";
  char points_text[32];
  std::snprintf(points_text, sizeof points_text, "%.3g", static_cast<double>(count_));
  const std::string data_note =
      individual ? "data" : std::string("data: ") + points_text + " points, min/max per pixel column";
  const int box_width = 40 + static_cast<int>(data_note.size()) * 7;
  const int box_left = plot_right - box_width - 10;
  s += "<g font-size=\"12\"><rect x=\"" + std::to_string(box_left) + "\" y=\"" + std::to_string(kTop + 8) +
       "\" width=\"" + std::to_string(box_width) + "\" height=\"40\" fill=\"white\" fill-opacity=\"0.8\" stroke=\"#ccc\"/>\n";
  s += "<circle cx=\"" + std::to_string(box_left + 15) + "\" cy=\"" + std::to_string(kTop + 21) +
       "\" r=\"3\" fill=\"#1f77b4\"/><text x=\"" + std::to_string(box_left + 25) + "\" y=\"" +
       std::to_string(kTop + 25) + "\">" + escape(data_note) + "</text>\n";
  s += "<line x1=\"" + std::to_string(box_left + 8) + "\" y1=\"" + std::to_string(kTop + 38) + "\" x2=\"" +
       std::to_string(box_left + 22) + "\" y2=\"" + std::to_string(kTop + 38) +
       "\" stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"" + std::to_string(box_left + 25) + "\" y=\"" +
       std::to_string(kTop + 42) + "\">fit</text></g>\n";
  s += "</svg>\n";
  return s;
}

}  // namespace curvefit
