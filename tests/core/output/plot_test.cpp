// The SVG plot: well-formed XML, every point drawn while the data are few, a bounded file for many;
// tick labels that tell ticks apart, log axes, error bars, and observed vs fitted for several
// predictors. Assertions read the SVG back (labels parsed to numbers, positions compared).
#include "core/output/plot.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <algorithm>
#include <vector>

#include "core/output/atomic_file.h"

namespace curvefit {
namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

bool well_formed(const std::string& svg) {
  const std::string path = ::testing::TempDir() + "/plot_test.svg";
  std::ofstream(path) << svg;
  return std::system(("xmllint --noout " + path + " 2>/dev/null").c_str()) == 0;
}

struct Label {
  double position;  // pixel
  double value;     // the label read as a number, plus the axis offset
};
// The tick labels of one axis ("x", "y" or the residual axis "r"), with the offset text ("+1e+09")
// added back.
std::vector<Label> tick_labels(const std::string& svg, const std::string& axis) {
  double offset = 0;
  std::smatch m;
  if (std::regex_search(svg, m,
                        std::regex("<text class=\"offset-" + axis + "\"[^>]*>([^<]+)</text>")))
    offset = std::stod(m[1].str());
  const std::regex tick("<text class=\"tick-" + axis +
                        "\" x=\"([^\"]+)\" y=\"([^\"]+)\"[^>]*>([^<]+)</text>");
  std::vector<Label> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tick); it != std::sregex_iterator();
       ++it) {
    const std::string text = (*it)[3].str();
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    EXPECT_TRUE(ec == std::errc() && end == text.data() + text.size())
        << "label '" << text << "' is not a number";
    out.push_back({std::stod((*it)[axis == "x" ? 1 : 2].str()), v + offset});
  }
  return out;
}

// The text between `<g class="NAME"` and the next `</g>`.
std::string group(const std::string& svg, const std::string& name) {
  const auto begin = svg.find("<g class=\"" + name + "\"");
  if (begin == std::string::npos) return {};
  return svg.substr(begin, svg.find("</g>", begin) - begin);
}

struct Point {
  double x, y;
};
std::vector<Point> circles(const std::string& text) {
  const std::regex circle("<circle cx=\"([^\"]+)\" cy=\"([^\"]+)\"");
  std::vector<Point> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), circle);
       it != std::sregex_iterator(); ++it)
    out.push_back({std::stod((*it)[1].str()), std::stod((*it)[2].str())});
  return out;
}

PlotBuilder::CurveFn line() {
  return [](const double* x, std::size_t n, double* out) {
    for (std::size_t i = 0; i < n; ++i) out[i] = 2 * x[i] + 1;
  };
}

TEST(Plot, FewPointsAreDrawnIndividually) {
  std::vector<double> x, y, fit;
  for (int i = 0; i < 50; ++i) {
    x.push_back(i);
    fit.push_back(2 * i + 1);
    y.push_back(fit.back() + (i % 2 ? 0.5 : -0.5));
  }
  PlotBuilder plot(0, 49);
  plot.add(x.data(), y.data(), fit.data(), x.size());
  const std::string svg = plot.svg(line(), "a <title> & more", "x", "y");
  EXPECT_EQ(count(svg, "<circle"), 50u * 2 + 1);  // data, residuals, legend marker
  EXPECT_NE(svg.find("a &lt;title&gt; &amp; more"), std::string::npos);
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "xmllint not installed";
  EXPECT_TRUE(well_formed(svg));
}

// A linear map from pixels to values, read off an axis's tick labels.
struct AxisReading {
  double position0, value0, values_per_pixel;
  double value(double position) const { return value0 + (position - position0) * values_per_pixel; }
};
AxisReading read_axis(const std::string& svg, const std::string& axis) {
  const std::vector<Label> labels = tick_labels(svg, axis);
  EXPECT_GE(labels.size(), 2u) << axis;
  if (labels.size() < 2) return {0, 0, 1};
  const Label& a = labels.front();
  const Label& b = labels.back();
  return {a.position, a.value, (b.value - a.value) / (b.position - a.position)};
}

// The pieces (M to the next M) of the path of class `cls`, each as its vertices in pixels (parsed by
// hand: std::regex recurses per character and overflows on a path this long).
std::vector<std::vector<Point>> path_pieces(const std::string& svg, const std::string& cls) {
  const std::string opening = "<path class=\"" + cls + "\" d=\"";
  const auto begin = svg.find(opening);
  if (begin == std::string::npos) return {};
  const std::string d = svg.substr(begin + opening.size(), svg.find('"', begin + opening.size()) - begin - opening.size());
  std::vector<std::vector<Point>> shapes;
  for (const char* p = d.c_str(); *p;) {
    const char op = *p++;
    if (op == 'Z') continue;
    if (op == 'M') shapes.emplace_back();
    char* end = nullptr;
    const double x = std::strtod(p, &end);
    const double y = std::strtod(end, &end);
    if (shapes.empty() || (op != 'M' && op != 'L')) return {};  // not a path of M, L and Z
    shapes.back().push_back({x, y});
    p = end;
  }
  return shapes;
}

// The band drawn around the curve: its upper edge at fit + w(x), its lower edge at fit - w(x),
// read back through the axes' tick labels; a width that is NaN over a stretch splits it in two.
TEST(Plot, TheBandFollowsTheCurvePlusAndMinusItsHalfWidth) {
  std::vector<double> x, y, fit;
  for (int i = 0; i < 50; ++i) {
    x.push_back(i);
    fit.push_back(2 * i + 1);
    y.push_back(fit.back() + (i % 2 ? 6.0 : -6.0));
  }
  PlotBuilder plot(0, 49);
  plot.add(x.data(), y.data(), fit.data(), x.size());
  auto width = [](double at) { return 1 + 0.1 * at; };
  const PlotBuilder::Band band{[&](const double* at, std::size_t n, double* out) {
                                 for (std::size_t i = 0; i < n; ++i) out[i] = width(at[i]);
                               },
                               "95% confidence band"};
  const std::string svg = plot.svg(line(), "t", "x", "y", band);
  // Values from pixels: x through the tick labels (they are centred on their ticks), y as the
  // distance to the curve, drawn at the same abscissae, through the labels' spacing.
  const AxisReading h = read_axis(svg, "x"), v = read_axis(svg, "y");
  const std::vector<std::vector<Point>> shapes = path_pieces(svg, "band"), curve = path_pieces(svg, "fit");
  ASSERT_EQ(shapes.size(), 1u);
  ASSERT_EQ(curve.size(), 1u);
  const std::vector<Point>& edge = shapes[0];
  const std::size_t n = curve[0].size();
  ASSERT_EQ(edge.size(), 2 * n);  // along the upper edge, then back along the lower one
  const double pixel = std::abs(v.values_per_pixel);  // the drawing's resolution in y units
  for (std::size_t i = 0; i < n; ++i) {
    const Point& fit_at = curve[0][i];
    const Point& upper = edge[i];
    const Point& lower = edge[2 * n - 1 - i];
    const double at = h.value(fit_at.x);
    EXPECT_EQ(upper.x, fit_at.x);
    EXPECT_EQ(lower.x, fit_at.x);
    EXPECT_NEAR((upper.y - fit_at.y) * v.values_per_pixel, width(at), 0.05 * pixel) << "x " << at;
    EXPECT_NEAR((lower.y - fit_at.y) * v.values_per_pixel, -width(at), 0.05 * pixel) << "x " << at;
  }
  EXPECT_NE(svg.find(">95% confidence band<"), std::string::npos);

  const PlotBuilder::Band gap{[&](const double* at, std::size_t n, double* out) {
                                for (std::size_t i = 0; i < n; ++i) out[i] = at[i] > 20 && at[i] < 30 ? NAN : 1.0;
                              },
                              "band"};
  EXPECT_EQ(path_pieces(plot.svg(line(), "t", "x", "y", gap), "band").size(), 2u);
  const PlotBuilder::Band none{[](const double*, std::size_t n, double* out) { std::fill(out, out + n, NAN); },
                               "95% confidence band"};
  const std::string without = plot.svg(line(), "t", "x", "y", none);
  EXPECT_EQ(without.find("class=\"band\""), std::string::npos);
  EXPECT_EQ(without.find("confidence band"), std::string::npos);  // nor in the legend
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0) GTEST_SKIP() << "xmllint not installed";
  EXPECT_TRUE(well_formed(svg));
}

TEST(Plot, MillionsOfPointsGiveASmallFile) {
  const std::size_t n = 2'000'000;
  std::vector<double> x(n), y(n), fit(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = static_cast<double>(i) / n * 10.0;
    fit[i] = std::exp(-x[i]);
    y[i] = fit[i] + 0.01 * std::sin(static_cast<double>(i));
  }
  PlotBuilder plot(0, 10);
  for (std::size_t begin = 0; begin < n; begin += 100000)
    plot.add(x.data() + begin, y.data() + begin, fit.data() + begin, 100000);
  const std::string svg = plot.svg(line(), "big", "x", "y");
  EXPECT_LT(svg.size(), 300u * 1024);
  EXPECT_LT(count(svg, "<circle"), 10u);
  EXPECT_NE(svg.find("2e+06 points"), std::string::npos);
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "xmllint not installed";
  EXPECT_TRUE(well_formed(svg));
}

TEST(Plot, TickLabelsTellApartTicksNearOneBillion) {
  std::vector<double> x, y;
  for (int i = 0; i <= 100; ++i) x.push_back(1e9 + 10.0 * i), y.push_back(i);
  PlotBuilder plot(1e9, 1e9 + 1000);
  plot.add(x.data(), y.data(), y.data(), x.size());
  const std::string svg = plot.svg(nullptr, "t", "x", "y");
  const std::vector<Label> labels = tick_labels(svg, "x");
  ASSERT_GE(labels.size(), 4u);
  const double step = labels[1].value - labels[0].value;
  const double pixels_per_unit = (labels[1].position - labels[0].position) / step;
  EXPECT_GT(step, 0);
  for (std::size_t i = 1; i < labels.size(); ++i) {
    // Distinct, evenly spaced, and each drawn where its value belongs on the axis.
    EXPECT_NEAR(labels[i].value - labels[i - 1].value, step, 1e-6 * step) << i;
    EXPECT_NEAR(labels[i].position - labels[0].position,
                (labels[i].value - labels[0].value) * pixels_per_unit, 0.02)
        << i;
  }
  EXPECT_LE(labels.front().value, 1e9 + 200);
  EXPECT_GE(labels.back().value, 1e9 + 800);
  // The data column at x = 1e9 + 500 is drawn where the label 1e9 + 500 would be.
  const double at_500 = labels[0].position + (1e9 + 500 - labels[0].value) * pixels_per_unit;
  bool found = false;
  for (const Point& p : circles(group(svg, "data"))) found = found || std::abs(p.x - at_500) < 0.02;
  EXPECT_TRUE(found);
}

TEST(Plot, LogAxisTicksSitAtPowersOfTen) {
  std::vector<double> x, y;
  for (int i = 0; i <= 60; ++i)
    x.push_back(std::pow(10.0, -2 + i / 10.0)), y.push_back(3 * x.back());
  PlotBuilder plot(x.front(), x.back(), PlotScale{true, true});
  plot.add(x.data(), y.data(), y.data(), x.size());
  const std::string svg = plot.svg(nullptr, "t", "x", "y");
  for (const std::string axis : {"x", "y"}) {
    const std::vector<Label> labels = tick_labels(svg, axis);
    ASSERT_GE(labels.size(), 3u) << axis;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const double decade = std::log10(labels[i].value);
      EXPECT_NEAR(decade, std::round(decade), 1e-12) << axis << " label " << labels[i].value;
      if (i >= 2) {  // equal decades, equal distances
        EXPECT_NEAR(labels[i].position - labels[i - 1].position,
                    labels[i - 1].position - labels[i - 2].position, 0.02);
      }
    }
  }
  EXPECT_EQ(tick_labels(svg, "x").front().value, 0.01);
  EXPECT_EQ(tick_labels(svg, "x").back().value, 1e4);
}

TEST(Plot, NonPositivePointsAreLeftOutOfALogAxisAndCounted) {
  const std::vector<double> x = {-1, 0, 1, 2, 3, 4}, y = {5, 5, 5, -5, 0, 5};
  PlotBuilder plot(1, 4, PlotScale{true, true});
  plot.add(x.data(), y.data(), y.data(), x.size());
  EXPECT_EQ(plot.dropped(), 4u);  // x = -1, x = 0, y = -5, y = 0
  const std::string svg = plot.svg(nullptr, "t", "x", "y");
  EXPECT_EQ(circles(group(svg, "data")).size(), 2u);
  EXPECT_EQ(circles(group(svg, "residuals")).size(), 2u);
  EXPECT_NE(svg.find("4 points with non-positive values not shown"), std::string::npos);
}

TEST(Plot, ErrorBarsSpanTwoSigmaOnePerPointWhileFew) {
  std::vector<double> x, y, sigma;
  for (int i = 0; i < 50; ++i) x.push_back(i), y.push_back(10), sigma.push_back(0.1 * (1 + i % 5));
  PlotBuilder plot(0, 49);
  plot.add(x.data(), y.data(), y.data(), x.size(), sigma.data());
  const std::string bars = group(plot.svg(nullptr, "t", "x", "y"), "error-bars");
  const std::regex bar("<line x1=\"[^\"]+\" y1=\"([^\"]+)\" x2=\"[^\"]+\" y2=\"([^\"]+)\"");
  std::vector<double> lengths;
  for (auto it = std::sregex_iterator(bars.begin(), bars.end(), bar); it != std::sregex_iterator();
       ++it)
    lengths.push_back(std::stod((*it)[1].str()) - std::stod((*it)[2].str()));
  ASSERT_EQ(lengths.size(), 50u);
  const double pixels_per_sigma = lengths[0] / sigma[0];
  for (std::size_t i = 0; i < lengths.size(); ++i)
    EXPECT_NEAR(lengths[i], sigma[i] * pixels_per_sigma, 0.1) << i;  // ends rounded to 0.01 px
}

TEST(Plot, ErrorBarsOfManyPointsAreThinnedLikeThePoints) {
  const std::size_t n = 100000;
  std::vector<double> x(n), y(n), sigma(n, 0.5);
  for (std::size_t i = 0; i < n; ++i)
    x[i] = static_cast<double>(i), y[i] = std::sin(0.001 * static_cast<double>(i));
  PlotBuilder plot(0, static_cast<double>(n - 1));
  plot.add(x.data(), y.data(), y.data(), n, sigma.data());
  const std::string svg = plot.svg(nullptr, "t", "x", "y");
  EXPECT_EQ(count(svg, "<g class=\"error-bars\""), 0u);
  EXPECT_EQ(count(svg, "<path class=\"error-envelope\""), 1u);
  EXPECT_LT(svg.size(), 200u * 1024);
}

TEST(Plot, SeveralPredictorsPlotObservedAgainstFittedAndResidualsAgainstRow) {
  std::vector<double> fit, y;
  for (int i = 0; i < 40; ++i) fit.push_back(std::sin(i)), y.push_back(fit.back());
  PlotBuilder plot = PlotBuilder::observed_vs_fitted(-1, 1, fit.size());
  plot.add(nullptr, y.data(), fit.data(), fit.size());
  const std::string svg = plot.svg(nullptr, "t", "x1", "y");
  EXPECT_NE(svg.find(">fitted</text>"), std::string::npos);
  EXPECT_NE(svg.find(">row</text>"), std::string::npos);
  EXPECT_NE(svg.find(">y (observed)</text>"), std::string::npos);
  // Observed = fitted: every data point lies on the drawn diagonal.
  std::smatch m;
  const std::string path = svg.substr(svg.find("<path class=\"fit\""));
  ASSERT_TRUE(std::regex_search(path, m, std::regex("d=\"M([^ ]+) ([^L]+)L.*L([^ ]+) ([^\"]+)\"")));
  const Point a{std::stod(m[1].str()), std::stod(m[2].str())},
      b{std::stod(m[3].str()), std::stod(m[4].str())};
  const std::vector<Point> points = circles(group(svg, "data"));
  ASSERT_EQ(points.size(), 40u);
  for (const Point& p : points)
    EXPECT_NEAR(a.y + (p.x - a.x) * (b.y - a.y) / (b.x - a.x), p.y, 0.05);
  // Residuals in row order, left to right.
  const std::vector<Point> residuals = circles(group(svg, "residuals"));
  ASSERT_EQ(residuals.size(), 40u);
  for (std::size_t i = 1; i < residuals.size(); ++i) EXPECT_GT(residuals[i].x, residuals[i - 1].x);
}

TEST(AtomicOutputFile, AppearsOnlyWhenCommitted) {
  const std::string path = ::testing::TempDir() + "/atomic_output.txt";
  std::remove(path.c_str());
  {
    AtomicOutputFile file(path);
    file.write("partial");
    EXPECT_FALSE(std::ifstream(path).good());
  }  // dies without commit: nothing left behind
  EXPECT_FALSE(std::ifstream(path).good());
  {
    AtomicOutputFile file(path);
    file.write("complete\n");
    file.commit();
    EXPECT_FALSE(std::ifstream(file.temporary_path()).good());
  }
  std::string content;
  std::getline(std::ifstream(path), content);
  EXPECT_EQ(content, "complete");
}

}  // namespace
}  // namespace curvefit
