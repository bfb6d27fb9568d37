// The SVG plot: well-formed XML, every point drawn while the data are few, a bounded file for many.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/output/atomic_file.h"
#include "core/output/plot.h"

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
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0) GTEST_SKIP() << "xmllint not installed";
  EXPECT_TRUE(well_formed(svg));
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
