// The chunk kernel against independent computations: the Householder fold reproduces the Gram
// matrix of the stacked rows (checked with Eigen's QR of the same stack), the residual sums and
// the scaled rows match a plain scalar loop, non-finite values anywhere (also in the tail that
// does not fill a vector) are reported, and the portable and AVX2 builds agree bit for bit.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include "core/engine/chunk_kernel.h"

namespace curvefit {
namespace {

struct FoldCase {
  Eigen::MatrixXd start;  // n x (n + 1): upper-triangular R and a qtf column
  Eigen::MatrixXd block;  // rows x (n + 1)
};

FoldCase random_case(int n, int rows, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  FoldCase c;
  c.start = Eigen::MatrixXd::Zero(n, n + 1);
  for (int j = 0; j <= n; ++j)
    for (int i = 0; i <= std::min(j, n - 1); ++i) c.start(i, j) = normal(rng);
  c.block = Eigen::MatrixXd::NullaryExpr(rows, n + 1, [&] { return normal(rng); });
  return c;
}

TEST(ChunkKernel, FoldKeepsTheGramMatrixOfTheStackedRows) {
  std::mt19937_64 rng(11);
  for (int n : {1, 2, 3, 5, 7})
    for (int rows : {1, 2, 3, 4, 5, 7, 8, 9, 31, 256, 257, 700}) {
      FoldCase c = random_case(n, rows, rng);
      Eigen::MatrixXd stacked(n + rows, n + 1);
      stacked << c.start, c.block;
      Eigen::MatrixXd factor = c.start;
      Eigen::MatrixXd block = c.block;
      kernel::fold_rows_into_factor(factor.data(), n, block.data(), static_cast<std::size_t>(rows),
                                    static_cast<std::size_t>(rows));
      // Upper triangular in its first n columns.
      for (int j = 0; j < n; ++j)
        for (int i = j + 1; i < n; ++i) EXPECT_EQ(factor(i, j), 0.0);
      // Same R as an independent QR, up to the sign of each row.
      Eigen::HouseholderQR<Eigen::MatrixXd> qr(stacked);
      const Eigen::MatrixXd reference =
          qr.matrixQR().topRows(n).triangularView<Eigen::Upper>();
      for (int i = 0; i < n; ++i) {
        const double sign = (factor(i, i) >= 0) == (reference(i, i) >= 0) ? 1.0 : -1.0;
        for (int j = i; j <= n; ++j)
          EXPECT_NEAR(factor(i, j), sign * reference(i, j), 1e-12 * (1 + std::abs(reference(i, j))))
              << "n=" << n << " rows=" << rows << " (" << i << "," << j << ")";
      }
    }
}

TEST(ChunkKernel, LinearResidualsMatchAPlainLoop) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uniform(0.5, 2.0);
  for (int rows : {1, 3, 4, 5, 8, 255, 256}) {
    for (bool with_sigma : {false, true}) {
      std::vector<double> values(rows), y(rows), sigma(rows), jac(3 * rows);
      for (int i = 0; i < rows; ++i) values[i] = uniform(rng), y[i] = uniform(rng), sigma[i] = uniform(rng);
      for (double& v : jac) v = uniform(rng);
      std::vector<double> f(rows), jac_scaled = jac;
      kernel::LinearSums sums;
      kernel::linear_residuals(values.data(), y.data(), with_sigma ? sigma.data() : nullptr, rows, f.data(),
                               jac_scaled.data(), 3, rows, sums);
      double chi2 = 0, ss = 0;
      for (int i = 0; i < rows; ++i) {
        const double d = values[i] - y[i];
        const double r = with_sigma ? d / sigma[i] : d;
        EXPECT_EQ(f[i], r);
        chi2 += r * r;
        ss += d * d;
        for (int j = 0; j < 3; ++j)
          EXPECT_EQ(jac_scaled[j * rows + i], with_sigma ? jac[j * rows + i] * (1.0 / sigma[i]) : jac[j * rows + i]);
      }
      EXPECT_NEAR(sums.chi2, chi2, 1e-13 * chi2);
      EXPECT_NEAR(sums.ss_residual, ss, 1e-13 * ss);
      EXPECT_TRUE(sums.finite);
    }
  }
}

TEST(ChunkKernel, NonFiniteResidualsAnywhereAreReported) {
  const double bad[] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                        -std::numeric_limits<double>::infinity()};
  for (int rows : {1, 4, 7, 13}) {
    for (int at = 0; at < rows; ++at)
      for (double value : bad) {
        std::vector<double> values(rows, 1.0), y(rows, 0.5);
        values[at] = value;
        kernel::LinearSums sums;
        kernel::linear_residuals(values.data(), y.data(), nullptr, rows, nullptr, nullptr, 0, rows, sums);
        EXPECT_FALSE(sums.finite) << "rows=" << rows << " at=" << at << " value=" << value;
      }
    // A zero sigma makes the residual infinite.
    std::vector<double> values(rows, 1.0), y(rows, 0.5), sigma(rows, 1.0);
    sigma[rows - 1] = 0.0;
    kernel::LinearSums sums;
    kernel::linear_residuals(values.data(), y.data(), sigma.data(), rows, nullptr, nullptr, 0, rows, sums);
    EXPECT_FALSE(sums.finite);
  }
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// The fold written plainly, one column at a time and one row at a time: dlarfg's reflection of
// each column, then for every column to its right a dot with the reflector and an update. Sums
// are added in the order chunk_kernel.h's builds add them (row i into partial sum i mod 8, rows
// past the last whole 8 into sums 0-3 and then 4-7; the eight sums added in a fixed tree), so
// the kernel, however it fuses its sweeps, must give exactly these bits.
double dot_in_kernel_order(const double* a, const double* b, std::size_t rows) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= rows; i += 8)
    for (std::size_t l = 0; l < 8; ++l) lane[l] += a[i + l] * b[i + l];
  if (i + 4 <= rows) {
    for (std::size_t l = 0; l < 4; ++l) lane[l] += a[i + l] * b[i + l];
    i += 4;
  }
  for (std::size_t l = 0; i + l < rows; ++l) lane[4 + l] += a[i + l] * b[i + l];
  double v[4];
  for (std::size_t l = 0; l < 4; ++l) v[l] = lane[l] + lane[4 + l];
  return (v[0] + v[1]) + (v[2] + v[3]);
}

void fold_column_by_column(double* Rqtf, int n, double* B, std::size_t rows) {
  const std::size_t un = static_cast<std::size_t>(n);
  for (std::size_t j = 0; j < un; ++j) {
    double* bj = B + j * rows;
    const double tail_norm2 = dot_in_kernel_order(bj, bj, rows);
    if (tail_norm2 == 0) continue;
    double& alpha = Rqtf[j + j * un];
    const double norm = std::sqrt(alpha * alpha + tail_norm2);
    const double beta = alpha >= 0 ? -norm : norm;
    const double tau = (beta - alpha) / beta;
    const double to_tail = 1.0 / (alpha - beta);
    for (std::size_t i = 0; i < rows; ++i) bj[i] *= to_tail;
    alpha = beta;
    for (std::size_t k = j + 1; k <= un; ++k) {
      double* bk = B + k * rows;
      double& r_jk = Rqtf[j + k * un];
      const double w = tau * (r_jk + dot_in_kernel_order(bj, bk, rows));
      r_jk -= w;
      for (std::size_t i = 0; i < rows; ++i) bk[i] -= w * bj[i];
    }
  }
}

TEST(ChunkKernel, FoldIsTheColumnByColumnHouseholderBitForBit) {
  std::mt19937_64 rng(23);
  // Up to 12 parameters: groups of 1-4 columns to the right of a reflected one, and more than one
  // group; row counts around every vector and sum boundary; a zero column (H = I) among them.
  for (int n = 1; n <= 12; ++n)
    for (int rows : {1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 255, 256, 257})
      for (int zero_column : {-1, 0, n / 2}) {
        FoldCase c = random_case(n, rows, rng);
        if (zero_column >= 0) c.block.col(zero_column).setZero();
        std::vector<double> expected_factor(c.start.data(), c.start.data() + c.start.size());
        std::vector<double> expected_block(c.block.data(), c.block.data() + c.block.size());
        fold_column_by_column(expected_factor.data(), n, expected_block.data(), static_cast<std::size_t>(rows));
        for (int build = 0; build < 2; ++build) {
          if (build == 1 && !kernel::using_avx2()) continue;
          std::vector<double> factor(c.start.data(), c.start.data() + c.start.size());
          std::vector<double> block(c.block.data(), c.block.data() + c.block.size());
          (build == 0 ? kernel::portable::fold_rows_into_factor : kernel::avx2::fold_rows_into_factor)(
              factor.data(), n, block.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(rows));
          EXPECT_TRUE(same_bits(factor, expected_factor) && same_bits(block, expected_block))
              << (build == 0 ? "portable" : "avx2") << " n=" << n << " rows=" << rows << " zero column "
              << zero_column;
        }
      }
}

TEST(ChunkKernel, PortableAndAvx2BuildsAgreeBitForBit) {
  if (!kernel::using_avx2()) GTEST_SKIP() << "this CPU has no AVX2: only the portable build runs here";
  std::mt19937_64 rng(3);
  for (int n : {1, 3, 6})
    for (int rows : {1, 5, 8, 37, 256}) {
      const FoldCase c = random_case(n, rows, rng);
      std::vector<double> fa(c.start.data(), c.start.data() + c.start.size()), fb = fa;
      std::vector<double> ba(c.block.data(), c.block.data() + c.block.size()), bb = ba;
      kernel::portable::fold_rows_into_factor(fa.data(), n, ba.data(), rows, rows);
      kernel::avx2::fold_rows_into_factor(fb.data(), n, bb.data(), rows, rows);
      EXPECT_TRUE(same_bits(fa, fb)) << "fold n=" << n << " rows=" << rows;
      EXPECT_TRUE(same_bits(ba, bb)) << "fold block n=" << n << " rows=" << rows;

      std::vector<double> values(ba.begin(), ba.begin() + rows), y(bb.end() - rows, bb.end());
      std::vector<double> sigma(rows);
      for (int i = 0; i < rows; ++i) sigma[i] = 0.5 + std::abs(values[i]);
      std::vector<double> ja(c.block.data(), c.block.data() + rows * n), jb = ja, ra(rows), rb(rows);
      kernel::LinearSums sa, sb;
      kernel::portable::linear_residuals(values.data(), y.data(), sigma.data(), rows, ra.data(), ja.data(), n, rows, sa);
      kernel::avx2::linear_residuals(values.data(), y.data(), sigma.data(), rows, rb.data(), jb.data(), n, rows, sb);
      EXPECT_TRUE(same_bits(ra, rb) && same_bits(ja, jb));
      EXPECT_EQ(std::memcmp(&sa.chi2, &sb.chi2, sizeof(double)), 0);
      EXPECT_EQ(std::memcmp(&sa.ss_residual, &sb.ss_residual, sizeof(double)), 0);
    }
}

}  // namespace
}  // namespace curvefit
