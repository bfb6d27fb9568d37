#include "core/output/plot.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace curvefit {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kLeft = 80, kRight = 20, kTop = 40, kBottom = 50;

std::string num(double v) {
  char buffer[32];
  // Two decimals are plenty for pixel coordinates and keep the file small.
  const double rounded = std::round(v * 100.0) / 100.0;
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, rounded);
  (void)ec;
  return std::string(buffer, end);
}
std::string num(int v) { return std::to_string(v); }

std::string shortest(double v) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  (void)ec;
  return std::string(buffer, end);
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
    }
  }
  return out;
}

// ---- Ticks -------------------------------------------------------------------------------------

struct Tick {
  double at;         // axis units
  std::string text;  // the value, or the value minus the axis offset
};
struct TickSet {
  std::vector<Tick> ticks;
  std::string offset;  // "+1e+09" when labels are relative to it, else empty
};

int decade(double v) { return static_cast<int>(std::floor(std::log10(std::abs(v)))); }

// A label that tells ticks `step` apart: fixed decimals for moderate magnitudes, else just enough
// significant digits in exponent form.
std::string tick_text(double v, double step) {
  if (std::abs(v) < step * 1e-6) return "0";
  char buffer[48];
  if (std::abs(v) < 1e6 && step >= 1e-4) {
    const int decimals = std::max(0, -decade(step));
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  } else {
    const int digits = std::clamp(decade(v) - decade(step) + 1, 1, 17);
    auto [end, ec] =
        std::to_chars(buffer, buffer + sizeof buffer - 1, v, std::chars_format::general, digits);
    (void)ec;
    *end = '\0';
  }
  return buffer;
}

// About `target` ticks at 1, 2 or 5 times a power of ten. When the labels would need more than
// six significant digits to differ (x = 1e9 + [0, 1000]), they are written relative to a round
// offset shown once on the axis.
TickSet linear_ticks(double lo, double hi, int target) {
  TickSet out;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return out;
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude * 10;
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * magnitude) {
      step = m * magnitude;
      break;
    }
  const double first = std::ceil(lo / step - 1e-9), last = std::floor(hi / step + 1e-9);
  const double largest = std::max(std::abs(first), std::abs(last)) * step;
  double offset = 0;
  if (largest > 0 && decade(largest) - decade(step) + 1 > 6) {
    const double span = std::pow(10.0, std::ceil(std::log10(hi - lo)));
    offset = std::floor(lo / span) * span;
    out.offset = (offset < 0 ? "-" : "+") + shortest(std::abs(offset));
  }
  for (double k = first; k <= last; ++k)
    out.ticks.push_back({k * step, tick_text(k * step - offset, step)});
  return out;
}

// Log axis (lo, hi in log10 units): powers of ten, or 1-2-5 within a short range, thinned to about
// `target`; linear ticks when even those are fewer than two.
TickSet log_ticks(double lo, double hi, int target) {
  for (const std::vector<double>& multiples :
       {std::vector<double>{1}, std::vector<double>{1, 2, 5}}) {
    std::vector<double> values;
    for (int k = static_cast<int>(std::floor(lo)); k <= static_cast<int>(std::ceil(hi)); ++k)
      for (double m : multiples) {
        const double v = m * std::pow(10.0, k), u = std::log10(v);
        if (u >= lo - 1e-9 && u <= hi + 1e-9) values.push_back(v);
      }
    if (values.size() < (multiples.size() == 1 ? 3u : 2u)) continue;
    const std::size_t every =
        (values.size() + static_cast<std::size_t>(target) - 1) / static_cast<std::size_t>(target);
    TickSet out;
    for (std::size_t i = 0; i < values.size(); i += every)
      out.ticks.push_back({std::log10(values[i]), shortest(values[i])});
    return out;
  }
  TickSet out = linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), target);
  for (Tick& t : out.ticks) t.at = std::log10(t.at);
  return out;
}

// A panel axis: a range in axis units mapped onto pixels.
struct Axis {
  double lo, hi;  // axis units (log10 of the value on a log axis)
  double pixel_lo, pixel_hi;
  bool log = false;
  double operator()(double u) const {
    const double p = pixel_lo + (u - lo) / (hi - lo) * (pixel_hi - pixel_lo);
    return std::clamp(p, std::min(pixel_lo, pixel_hi), std::max(pixel_lo, pixel_hi));
  }
  TickSet ticks(int target) const {
    return log ? log_ticks(lo, hi, target) : linear_ticks(lo, hi, target);
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

double log_unit(bool log, double v) {
  if (!log) return v;
  return v > 0 ? std::log10(v) : -kInf;
}
double from_unit(bool log, double u) { return log ? std::pow(10.0, u) : u; }
}  // namespace

// ---- Collecting the data -----------------------------------------------------------------------

bool PlotBuilder::Envelope::empty() const { return !(lo <= hi); }
void PlotBuilder::Envelope::add(double v) {
  if (!std::isfinite(v)) return;
  if (empty()) lo = hi = v;
  lo = std::min(lo, v);
  hi = std::max(hi, v);
}

double PlotBuilder::Columns::unit(double v) const { return log_unit(log, v); }

int PlotBuilder::Columns::of(double u) const {
  const int columns = kWidth - kLeft - kRight;
  return std::clamp(static_cast<int>((u - lo) / (hi - lo) * columns), 0, columns - 1);
}

PlotBuilder::PlotBuilder(Columns main, Columns residual, bool versus_fitted, PlotScale scale)
    : main_(main), residual_x_(residual), versus_fitted_(versus_fitted), scale_(scale) {
  for (Columns* c : {&main_, &residual_x_}) {
    if (!std::isfinite(c->lo) || !std::isfinite(c->hi)) c->lo = 0, c->hi = 1;
    if (!(c->hi > c->lo)) c->hi = c->lo + 1.0;
  }
  plot_columns_ = kWidth - kLeft - kRight;
  const Envelope none{kNaN, kNaN};
  data_.assign(static_cast<std::size_t>(plot_columns_), none);
  error_ = residual_ = data_;
}

PlotBuilder::PlotBuilder(double x_min, double x_max, PlotScale scale)
    : PlotBuilder(Columns{log_unit(scale.log_x, x_min), log_unit(scale.log_x, x_max), scale.log_x},
                  Columns{log_unit(scale.log_x, x_min), log_unit(scale.log_x, x_max), scale.log_x},
                  false, scale) {}

PlotBuilder PlotBuilder::observed_vs_fitted(double fit_min, double fit_max, std::size_t rows,
                                            PlotScale scale) {
  const Columns fitted{log_unit(scale.log_x, fit_min), log_unit(scale.log_x, fit_max), scale.log_x};
  const Columns row{0, rows > 1 ? static_cast<double>(rows - 1) : 1.0, false};
  return PlotBuilder(fitted, row, true, scale);
}

void PlotBuilder::add(const double* x, const double* y, const double* fit, std::size_t n,
                      const double* sigma) {
  if (sigma) has_sigma_ = true;
  for (std::size_t i = 0; i < n; ++i) {
    const double h = versus_fitted_ ? fit[i] : x[i];
    const double row = static_cast<double>(rows_seen_++);
    if (!std::isfinite(h)) continue;
    if ((scale_.log_x && h <= 0) || (scale_.log_y && y[i] <= 0)) {
      ++dropped_;
      continue;
    }
    const double u = main_.unit(h), v = log_unit(scale_.log_y, y[i]);
    const double r = y[i] - fit[i], ru = versus_fitted_ ? row : u;
    const double e_lo = sigma ? log_unit(scale_.log_y, y[i] - sigma[i]) : kNaN;
    const double e_hi = sigma ? log_unit(scale_.log_y, y[i] + sigma[i]) : kNaN;
    const auto c = static_cast<std::size_t>(main_.of(u));
    data_[c].add(v);
    error_[c].add(e_lo);
    error_[c].add(e_hi);
    residual_[static_cast<std::size_t>(residual_x_.of(ru))].add(r);
    if (count_ < kMaxIndividualPoints) {
      pu_.push_back(u), pv_.push_back(v), pe_lo_.push_back(e_lo), pe_hi_.push_back(e_hi);
      ru_.push_back(ru), rr_.push_back(r);
    }
    ++count_;
  }
}

// The fitted curve (or the line observed = fitted) at two points per pixel column, in axis units,
// and the band's edges there when a half-width is given.
PlotBuilder::Curve PlotBuilder::sample_curve(const CurveFn& curve, const CurveFn& half_width) const {
  Curve out;
  if (!versus_fitted_ && !curve) return out;
  const std::size_t n = static_cast<std::size_t>(plot_columns_) * 2 + 1;
  out.x.resize(n);
  out.y.resize(n);
  std::vector<double> raw(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.x[i] =
        main_.lo + (main_.hi - main_.lo) * static_cast<double>(i) / static_cast<double>(n - 1);
    raw[i] = from_unit(main_.log, out.x[i]);
  }
  std::vector<double> values = raw;
  if (!versus_fitted_) curve(raw.data(), n, values.data());
  auto in_axis_units = [this](double v) {
    const double u = log_unit(scale_.log_y, v);
    return std::isfinite(u) ? u : kNaN;
  };
  for (std::size_t i = 0; i < n; ++i) out.y[i] = in_axis_units(values[i]);
  if (versus_fitted_ || !half_width) return out;
  std::vector<double> widths(n);
  half_width(raw.data(), n, widths.data());
  out.lower.resize(n);
  out.upper.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const bool drawn = std::isfinite(widths[i]) && std::isfinite(values[i]);
    out.lower[i] = drawn ? in_axis_units(values[i] - widths[i]) : kNaN;
    out.upper[i] = drawn ? in_axis_units(values[i] + widths[i]) : kNaN;
  }
  // No finite width anywhere (a fit without a covariance): no band, and none in the legend.
  if (std::all_of(out.lower.begin(), out.lower.end(), [](double v) { return std::isnan(v); }))
    out.lower.clear(), out.upper.clear();
  return out;
}

// ---- Drawing -----------------------------------------------------------------------------------

// The document being drawn: the panel layout and axes, then one method per layer.
struct PlotScene {
  using Curve = PlotBuilder::Curve;
  const PlotBuilder& plot;
  std::string s;
  int right = PlotBuilder::kWidth - kRight;
  int main_top = kTop, main_bottom = 0, res_top = 0, res_bottom = PlotBuilder::kHeight - kBottom;
  Axis main_x{}, main_y{}, res_x{}, res_y{};
  bool individual;

  PlotScene(const PlotBuilder& p, const Curve& curve)
      : plot(p), individual(p.count_ <= PlotBuilder::kMaxIndividualPoints) {
    const int gap =
        p.versus_fitted_ ? 56 : 30;  // observed-vs-fitted labels its own horizontal axis
    const int residual_height = (PlotBuilder::kHeight - kTop - kBottom - gap) / 4;
    res_top = res_bottom - residual_height;
    main_bottom = res_top - gap;
    double y_lo = kInf, y_hi = -kInf, r_max = 0;
    auto widen = [&](double v) {
      if (std::isfinite(v)) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v);
    };
    for (std::size_t c = 0; c < p.data_.size(); ++c) {
      for (const auto* env : {&p.data_[c], &p.error_[c]})
        if (!env->empty()) widen(env->lo), widen(env->hi);
      if (!p.residual_[c].empty())
        r_max = std::max({r_max, std::abs(p.residual_[c].lo), std::abs(p.residual_[c].hi)});
    }
    for (double v : curve.y) widen(v);
    pad(y_lo, y_hi);
    double r_lo = -r_max, r_hi = r_max;
    pad(r_lo, r_hi);
    main_x = {p.main_.lo, p.main_.hi, double(kLeft), double(right), p.main_.log};
    main_y = {y_lo, y_hi, double(main_bottom), double(main_top), p.scale_.log_y};
    res_x = {p.residual_x_.lo, p.residual_x_.hi, double(kLeft), double(right), p.residual_x_.log};
    res_y = {r_lo, r_hi, double(res_bottom), double(res_top), false};
  }

  void header(const std::string& title) {
    const std::string w = num(PlotBuilder::kWidth), h = num(PlotBuilder::kHeight);
    s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
         "\" viewBox=\"0 0 " + w + " " + h + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s += "<text x=\"" + num(PlotBuilder::kWidth / 2) +
         "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" + escape(title) + "</text>\n";
  }

  // Grid lines, tick labels (horizontal ones when asked) and the frame of one panel.
  void frame(const Axis& h, const Axis& v, int top, int bottom, bool h_labels,
             const std::string& v_class) {
    const TickSet h_ticks = h.ticks(8), v_ticks = v.ticks(bottom - top > 200 ? 6 : 4);
    s += "<g stroke=\"#ddd\" stroke-width=\"1\">\n";
    for (const Tick& t : h_ticks.ticks) s += line(h(t.at), top, h(t.at), bottom);
    for (const Tick& t : v_ticks.ticks) s += line(kLeft, v(t.at), right, v(t.at));
    s += "</g>\n<g fill=\"#333\">\n";
    if (h_labels) {
      for (const Tick& t : h_ticks.ticks)
        s += "<text class=\"tick-x\" x=\"" + num(h(t.at)) + "\" y=\"" + num(bottom + 16) +
             "\" text-anchor=\"middle\">" + t.text + "</text>\n";
      if (!h_ticks.offset.empty())
        s += "<text class=\"offset-x\" x=\"" + num(right) + "\" y=\"" + num(bottom + 31) +
             "\" text-anchor=\"end\">" + h_ticks.offset + "</text>\n";
    }
    for (const Tick& t : v_ticks.ticks)
      s += "<text class=\"tick-" + v_class + "\" x=\"" + num(kLeft - 6) + "\" y=\"" +
           num(v(t.at) + 4) + "\" text-anchor=\"end\">" + t.text + "</text>\n";
    if (!v_ticks.offset.empty())
      s += "<text class=\"offset-" + v_class + "\" x=\"" + num(kLeft) + "\" y=\"" + num(top - 5) +
           "\">" + v_ticks.offset + "</text>\n";
    s += "</g>\n<rect x=\"" + num(kLeft) + "\" y=\"" + num(top) + "\" width=\"" +
         num(right - kLeft) + "\" height=\"" + num(bottom - top) +
         "\" fill=\"none\" stroke=\"#333\"/>\n";
  }

  static std::string line(double x1, double y1, double x2, double y2) {
    return "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
           num(y2) + "\"/>\n";
  }

  // One vertical stroke per pixel column from the envelope's minimum to its maximum.
  static std::string envelope_path(const std::vector<PlotBuilder::Envelope>& env,
                                   const Axis& vertical) {
    std::string d;
    for (std::size_t c = 0; c < env.size(); ++c) {
      if (env[c].empty()) continue;
      const double px = kLeft + static_cast<double>(c) + 0.5;
      double top = vertical(env[c].hi), bottom = vertical(env[c].lo);
      if (bottom - top < 1.0) top -= 0.5, bottom += 0.5;  // a visible mark even for one value
      d += "M" + num(px) + " " + num(bottom) + "V" + num(top);
    }
    return d;
  }

  // Error bars y +- sigma: one line per point while few, else their per-column envelope.
  void error_bars() {
    if (!plot.has_sigma_) return;
    if (!individual) {
      s += "<path class=\"error-envelope\" d=\"" + envelope_path(plot.error_, main_y) +
           "\" stroke=\"#9ecae1\" fill=\"none\"/>\n";
      return;
    }
    s += "<g class=\"error-bars\" stroke=\"#9ecae1\" stroke-width=\"1\">\n";
    for (std::size_t i = 0; i < plot.pu_.size(); ++i) {
      if (std::isnan(plot.pe_lo_[i]) || std::isnan(plot.pe_hi_[i])) continue;
      s += line(main_x(plot.pu_[i]), main_y(plot.pe_lo_[i]), main_x(plot.pu_[i]),
                main_y(plot.pe_hi_[i]));
    }
    s += "</g>\n";
  }

  // Points (main or residual panel) while few, else the per-column envelope.
  void marks(const std::vector<double>& u, const std::vector<double>& v, const Axis& h,
             const Axis& vertical, const std::vector<PlotBuilder::Envelope>& env,
             const std::string& cls, const std::string& colour, const char* radius) {
    const std::string opacity = cls == "data" ? " opacity=\"0.6\"" : "";
    if (!individual) {
      s += "<path class=\"" + cls + "\" d=\"" + envelope_path(env, vertical) + "\" stroke=\"" +
           colour + "\"" + opacity + " fill=\"none\"/>\n";
      return;
    }
    s += "<g class=\"" + cls + "\" fill=\"" + colour + "\"" + opacity + ">\n";
    for (std::size_t i = 0; i < u.size(); ++i)
      if (std::isfinite(v[i]))
        s += "<circle cx=\"" + num(h(u[i])) + "\" cy=\"" + num(vertical(v[i])) + "\" r=\"" +
             radius + "\"/>\n";
    s += "</g>\n";
  }

  // The band as one closed shape per run of columns where both edges can be drawn: along the
  // upper edge, back along the lower one. Edges beyond the panel are held at its border.
  void band_area(const Curve& curve) {
    std::string d;
    for (std::size_t begin = 0; begin < curve.lower.size();) {
      auto drawable = [&](std::size_t i) { return !std::isnan(curve.lower[i]) && !std::isnan(curve.upper[i]); };
      if (!drawable(begin)) {
        ++begin;
        continue;
      }
      std::size_t end = begin;
      while (end < curve.lower.size() && drawable(end)) ++end;
      for (std::size_t i = begin; i < end; ++i)
        d += (i == begin ? "M" : "L") + num(main_x(curve.x[i])) + " " + num(main_y(curve.upper[i]));
      for (std::size_t i = end; i-- > begin;) d += "L" + num(main_x(curve.x[i])) + " " + num(main_y(curve.lower[i]));
      d += "Z";
      begin = end;
    }
    if (!d.empty()) s += "<path class=\"band\" d=\"" + d + "\" fill=\"#d62728\" fill-opacity=\"0.2\" stroke=\"none\"/>\n";
  }

  void curve_path(const Curve& curve) {
    if (curve.x.empty()) return;
    std::string d;
    bool pen_down = false;
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
      if (std::isnan(curve.y[i])) {
        pen_down = false;
        continue;
      }
      d += (pen_down ? "L" : "M") + num(main_x(curve.x[i])) + " " + num(main_y(curve.y[i]));
      pen_down = true;
    }
    s += "<path class=\"fit\" d=\"" + d +
         "\" stroke=\"#d62728\" stroke-width=\"2\" fill=\"none\"/>\n";
  }

  void axis_titles(const std::string& x_label, const std::string& y_label) {
    const int middle = (kLeft + right) / 2;
    const bool versus = plot.versus_fitted_;
    auto rotated = [&](int y, const std::string& text) {
      s += "<text transform=\"translate(16 " + num(y) + ") rotate(-90)\" text-anchor=\"middle\">" +
           escape(text) + "</text>\n";
    };
    s += "<text class=\"title-x\" x=\"" + num(middle) + "\" y=\"" + num(PlotBuilder::kHeight - 12) +
         "\" text-anchor=\"middle\">" + (versus ? "row" : escape(x_label)) + "</text>\n";
    if (versus)
      s += "<text class=\"title-x\" x=\"" + num(middle) + "\" y=\"" + num(main_bottom + 34) +
           "\" text-anchor=\"middle\">fitted</text>\n";
    rotated((main_top + main_bottom) / 2, versus ? y_label + " (observed)" : y_label);
    rotated((res_top + res_bottom) / 2, "residual");
  }

  void legend(const std::string& band_label) {
    char points_text[32];
    std::snprintf(points_text, sizeof points_text, "%.3g", static_cast<double>(plot.count_));
    const std::string data_note =
        std::string(plot.has_sigma_ ? "data ± sigma" : "data") +
        (individual ? "" : std::string(": ") + points_text + " points, min/max per pixel column");
    const std::string fit_note = plot.versus_fitted_ ? "observed = fitted" : "fit";
    const std::size_t widest = std::max({data_note.size(), fit_note.size(), band_label.size()});
    const int box_width = 40 + static_cast<int>(widest) * 7;
    const int box_height = band_label.empty() ? 40 : 58;
    // Observed-vs-fitted points run along the diagonal up to the top right: the legend goes top left.
    const int box_left = plot.versus_fitted_ ? kLeft + 10 : right - box_width - 10;
    s += "<g font-size=\"12\"><rect x=\"" + num(box_left) + "\" y=\"" + num(kTop + 8) +
         "\" width=\"" + num(box_width) + "\" height=\"" + num(box_height) +
         "\" fill=\"white\" fill-opacity=\"0.8\" stroke=\"#ccc\"/>\n";
    s += "<circle cx=\"" + num(box_left + 15) + "\" cy=\"" + num(kTop + 21) +
         "\" r=\"3\" fill=\"#1f77b4\"/><text x=\"" + num(box_left + 25) + "\" y=\"" +
         num(kTop + 25) + "\">" + escape(data_note) + "</text>\n";
    s += "<path d=\"M" + num(box_left + 8) + " " + num(kTop + 38) + "H" + num(box_left + 22) +
         "\" stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"" + num(box_left + 25) + "\" y=\"" +
         num(kTop + 42) + "\">" + fit_note + "</text>";
    if (!band_label.empty())
      s += "\n<rect x=\"" + num(box_left + 8) + "\" y=\"" + num(kTop + 50) +
           "\" width=\"14\" height=\"10\" fill=\"#d62728\" fill-opacity=\"0.2\"/><text x=\"" + num(box_left + 25) +
           "\" y=\"" + num(kTop + 59) + "\">" + escape(band_label) + "</text>";
    s += "</g>\n";
    if (plot.dropped_ > 0)
      s += "<text class=\"note\" x=\"" + num(kLeft + 8) + "\" y=\"" + num(main_top + (plot.versus_fitted_ ? 64 : 18)) +
           "\" fill=\"#a00\">" + std::to_string(plot.dropped_) +
           " points with non-positive values not shown (log axis)</text>\n";
  }
};

std::string PlotBuilder::svg(const CurveFn& curve_fn, const std::string& title, const std::string& x_label,
                             const std::string& y_label, const Band& band) const {
  const Curve curve = sample_curve(curve_fn, band.half_width);
  PlotScene scene(*this, curve);
  scene.header(title);
  scene.frame(scene.main_x, scene.main_y, scene.main_top, scene.main_bottom, versus_fitted_, "y");
  scene.frame(scene.res_x, scene.res_y, scene.res_top, scene.res_bottom, true, "r");
  scene.band_area(curve);
  scene.error_bars();
  scene.marks(pu_, pv_, scene.main_x, scene.main_y, data_, "data", "#1f77b4", "2");
  scene.curve_path(curve);
  scene.s += "<path d=\"M" + num(kLeft) + " " + num(scene.res_y(0)) + "H" + num(scene.right) +
             "\" stroke=\"#d62728\"/>\n";
  scene.marks(ru_, rr_, scene.res_x, scene.res_y, residual_, "residuals", "#555", "1.5");
  scene.axis_titles(x_label, y_label);
  scene.legend(curve.lower.empty() ? std::string() : band.label);
  return scene.s + "</svg>\n";
}

}  // namespace curvefit
