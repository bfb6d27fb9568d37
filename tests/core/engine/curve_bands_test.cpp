// The fitted curve's confidence and prediction bands (core/engine/curve_bands.h) against an
// independent computation: the Jacobian from hand-written derivatives at the fitted parameters,
// the covariance from it by a dense inverse (fine for these well-conditioned problems, and not
// the code under test), g^T C g, and Boost's Student t quantile. Also: fixed and tied parameters,
// the sandwich covariance, undetermined parameters, every mode.
#include "core/engine/curve_bands.h"

#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Dense>
#include <boost/math/distributions/students_t.hpp>
#include <gtest/gtest.h>

#include "core/engine/engine_test_support.h"
#include "core/engine/fit_setup.h"
#include "core/errors.h"

namespace curvefit {
namespace {

using testing_support::CountingSource;
using testing_support::ExponentialDecay;
using testing_support::make_decay_data;

constexpr std::size_t kRows = 3000;

FitRequest decay_request(const Model& model, DataSource& data, FitMode mode = FitMode::memory,
                         std::size_t chunk = kMaxChunkRows) {
  FitRequest request;
  request.model = &model;
  request.data = &data;
  request.p0 = Eigen::Vector3d(2.0, 0.5, 0.3);
  request.plan.mode = mode;
  request.plan.chunk_rows = chunk;
  request.plan.threads = 2;
  request.solver.ftol = request.solver.xtol = request.solver.gtol = 1e-15;
  return request;
}

// Rows of d model / d p for a exp(-b x) + c at p, for the parameters in `columns` (0 = a, 1 = b, 2 = c).
Eigen::MatrixXd decay_gradients(const std::vector<double>& x, const Eigen::VectorXd& p, const std::vector<int>& columns) {
  Eigen::MatrixXd g(static_cast<Eigen::Index>(x.size()), static_cast<Eigen::Index>(columns.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double e = std::exp(-p[1] * x[i]);
    const double all[3] = {e, -p[0] * x[i] * e, 1.0};
    for (std::size_t j = 0; j < columns.size(); ++j)
      g(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = all[columns[j]];
  }
  return g;
}

double two_sided_t(double level, long dof) {
  return boost::math::quantile(boost::math::students_t(static_cast<double>(dof)), 0.5 + 0.5 * level);
}

struct Band {
  std::vector<double> confidence, prediction;
};

Band bands_at(const Model& model, const FitResult& result, const std::vector<double>& x, const double* sigma,
              double level = 0.95) {
  const CurveBands bands(model, result, level);
  Band out{std::vector<double>(x.size()), std::vector<double>(x.size())};
  const double* xs[1] = {x.data()};
  bands.half_widths(xs, x.size(), sigma, out.confidence.data(), out.prediction.data());
  return out;
}

// Half-widths t sqrt(g^T C g) and t sqrt(g^T C g + s2 sigma^2) from a dense covariance C.
Band dense_band(const Eigen::MatrixXd& G, const Eigen::MatrixXd& C, double t, double s2, const double* sigma) {
  Band out;
  for (Eigen::Index i = 0; i < G.rows(); ++i) {
    const double variance = G.row(i) * C * G.row(i).transpose();
    const double s = sigma ? sigma[i] : 1.0;
    out.confidence.push_back(t * std::sqrt(variance));
    out.prediction.push_back(t * std::sqrt(variance + s2 * s * s));
  }
  return out;
}

void expect_close(const Band& got, const Band& want, double tolerance, const char* what) {
  ASSERT_EQ(got.confidence.size(), want.confidence.size());
  for (std::size_t i = 0; i < got.confidence.size(); ++i) {
    EXPECT_NEAR(got.confidence[i], want.confidence[i], tolerance * want.confidence[i]) << what << " row " << i;
    EXPECT_NEAR(got.prediction[i], want.prediction[i], tolerance * want.prediction[i]) << what << " row " << i;
  }
}

// Points inside and beyond the data (the band widens outside [0, 10]).
std::vector<double> probe_points() {
  std::vector<double> x;
  for (int i = 0; i <= 60; ++i) x.push_back(-1.0 + 0.2 * i);
  return x;
}

// The data's weighted Jacobian and the covariance s (J^T J)^-1, s = chi2 / dof or 1.
Eigen::MatrixXd dense_covariance(const MemoryDataSource& data, const FitResult& r, const std::vector<int>& columns,
                                 bool absolute_sigma) {
  const std::vector<double> x(data.x_column(0), data.x_column(0) + data.rows());
  Eigen::MatrixXd J = decay_gradients(x, r.params, columns);
  for (Eigen::Index i = 0; i < J.rows(); ++i) J.row(i) /= data.sigma_column()[i];
  const double s = absolute_sigma ? 1.0 : r.chi2 / static_cast<double>(r.dof);
  return s * (J.transpose() * J).inverse();
}

TEST(CurveBands, AreTheDeltaMethodOfTheDenseCovarianceWithSigma) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true, false);
  for (const bool absolute : {false, true}) {
    FitRequest request = decay_request(model, data);
    request.absolute_sigma = absolute;
    const FitResult r = fit(request);
    ASSERT_TRUE(r.success) << r.message;
    const std::vector<double> x = probe_points();
    const std::vector<double> sigma(x.size(), 0.04);
    const Eigen::MatrixXd C = dense_covariance(data, r, {0, 1, 2}, absolute);
    const double s2 = absolute ? 1.0 : r.reduced_chi2;
    const double t = two_sided_t(0.95, r.dof);
    expect_close(bands_at(model, r, x, sigma.data()), dense_band(decay_gradients(x, r.params, {0, 1, 2}), C, t, s2, sigma.data()),
                 1e-8, absolute ? "absolute sigma" : "scaled");
    // Another level: only t changes.
    const Band at90 = bands_at(model, r, x, sigma.data(), 0.9);
    expect_close(at90, dense_band(decay_gradients(x, r.params, {0, 1, 2}), C, two_sided_t(0.9, r.dof), s2, sigma.data()),
                 1e-8, "level 0.9");
  }
}

TEST(CurveBands, AFixedParameterAddsNothingAndTheLabelNamesTheLevel) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true, false);
  FitRequest request = decay_request(model, data);
  request.fixed = {false, false, true};
  request.p0[2] = 0.5;
  const FitResult r = fit(request);
  ASSERT_TRUE(r.success) << r.message;
  const std::vector<double> x = probe_points();
  const Eigen::MatrixXd C = dense_covariance(data, r, {0, 1}, false);
  expect_close(bands_at(model, r, x, nullptr),
               dense_band(decay_gradients(x, r.params, {0, 1}), C, two_sided_t(0.95, r.dof), r.reduced_chi2, nullptr),
               1e-8, "c fixed");
  EXPECT_EQ(CurveBands(model, r, 0.95).percent_label(), "95");
  EXPECT_EQ(CurveBands(model, r, 0.6827).percent_label(), "68.27");
  EXPECT_THROW(CurveBands(model, r, 1.0), UsageError);
  EXPECT_THROW(CurveBands(model, r, 0.0), UsageError);
}

TEST(CurveBands, RobustCovarianceGivesTheSandwichBand) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, false, true);
  FitRequest request = decay_request(model, data);
  request.covariance = CovarianceKind::hc1;
  const FitResult r = fit(request);
  ASSERT_TRUE(r.success) << r.message;
  const std::vector<double> xd(data.x_column(0), data.x_column(0) + data.rows());
  const Eigen::MatrixXd J = decay_gradients(xd, r.params, {0, 1, 2});
  Eigen::MatrixXd meat = Eigen::MatrixXd::Zero(3, 3);
  for (Eigen::Index i = 0; i < J.rows(); ++i) {
    const double f = r.params[0] * std::exp(-r.params[1] * xd[static_cast<std::size_t>(i)]) + r.params[2] -
                     data.y_column()[i];
    meat += f * f * J.row(i).transpose() * J.row(i);
  }
  const Eigen::MatrixXd bread = (J.transpose() * J).inverse();
  const double m = static_cast<double>(kRows);
  const Eigen::MatrixXd C = bread * meat * bread * (m / (m - 3));
  const std::vector<double> x = probe_points();
  expect_close(bands_at(model, r, x, nullptr),
               dense_band(decay_gradients(x, r.params, {0, 1, 2}), C, two_sided_t(0.95, r.dof), r.reduced_chi2, nullptr),
               1e-8, "hc1");
}

// a exp(-b x) + c with c tied to a / 10: the model has a and b, and d model / d a = e + 0.1.
TEST(CurveBands, ATiedParameterFollowsItsExpression) {
  MemoryDataSource data = make_decay_data(kRows, false, false);
  FitSpec spec;
  spec.x.assign(1, std::vector<double>(data.x_column(0), data.x_column(0) + kRows));
  spec.y.assign(data.y_column(), data.y_column() + kRows);
  spec.model = "a*exp(-b*x)+c";
  spec.ties = {parse_tie("c = a/10", "--tie")};
  spec.p0 = {{"a", 2.0}, {"b", 0.5}};
  spec.ftol = spec.xtol = spec.gtol = 1e-15;
  PreparedFit prepared = prepare_fit(spec);
  const FitResult r = fit(prepared);
  ASSERT_TRUE(r.success) << r.message;
  ASSERT_EQ(r.names, (std::vector<std::string>{"a", "b"}));
  auto gradients = [&](const std::vector<double>& x) {
    Eigen::MatrixXd g(static_cast<Eigen::Index>(x.size()), 2);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double e = std::exp(-r.params[1] * x[i]);
      g.row(static_cast<Eigen::Index>(i)) << e + 0.1, -r.params[0] * x[i] * e;
    }
    return g;
  };
  const Eigen::MatrixXd J = gradients(spec.x[0]);
  const Eigen::MatrixXd C = r.reduced_chi2 * (J.transpose() * J).inverse();
  const std::vector<double> x = probe_points();
  expect_close(bands_at(*prepared.request.model, r, x, nullptr),
               dense_band(gradients(x), C, two_sided_t(0.95, r.dof), r.reduced_chi2, nullptr), 1e-8, "tied");
}

TEST(CurveBands, AGradientOnAnUndeterminedParameterGivesAnInfiniteBand) {
  MemoryDataSource data = make_decay_data(kRows, false, false);
  FitSpec spec;
  spec.x.assign(1, std::vector<double>(data.x_column(0), data.x_column(0) + kRows));
  spec.y.assign(data.y_column(), data.y_column() + kRows);
  spec.model = "a*exp(-b*x)+c+d";  // c and d only as their sum
  spec.p0 = {{"a", 2.0}, {"b", 0.5}};
  PreparedFit prepared = prepare_fit(spec);
  const FitResult r = fit(prepared);
  ASSERT_EQ(r.covariance.rows(), 4);
  ASSERT_FALSE(std::isfinite(r.covariance(2, 2)));
  const std::vector<double> x = probe_points();
  const Band band = bands_at(*prepared.request.model, r, x, nullptr);
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(band.confidence[i], std::numeric_limits<double>::infinity()) << i;
    EXPECT_EQ(band.prediction[i], std::numeric_limits<double>::infinity()) << i;
  }
}

TEST(CurveBands, EveryModeGivesTheSameBand) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true, true);
  const FitResult in_memory = fit(decay_request(model, data));
  const FitResult chunked = fit(decay_request(model, data, FitMode::chunked, 97));
  CountingSource source(data);
  const FitResult streamed = fit(decay_request(model, source, FitMode::stream, 97));
  const std::vector<double> x = probe_points();
  const Band reference = bands_at(model, in_memory, x, nullptr);
  expect_close(bands_at(model, chunked, x, nullptr), reference, 1e-8, "chunked");
  expect_close(bands_at(model, streamed, x, nullptr), reference, 1e-8, "stream");
}

}  // namespace
}  // namespace curvefit
