// Peers: the GNU Scientific Library's nonlinear least squares on the same data, analytic Jacobian.
//   multilarge  gsl_multilarge_nlinear (trust region, Levenberg-Marquardt, Cholesky of J^T J): the
//               solver GSL documents for large problems; its Jacobian callback is fed the rows in
//               blocks, accumulating J^T J and J^T u block by block, so J is never held whole.
//   multifit    gsl_multifit_nlinear (trust region, Levenberg-Marquardt, QR of the whole J).
// Both start from the same p0 as every contender and stop on xtol = gtol = 1e-10 (GSL's own tests).
// Prints one JSON object: the solve time (data read first), iterations, evaluations, peak RSS.
//
// usage: bench_gsl_fit FILE.h5 MODEL P0 multilarge|multifit   (MODEL: exponential | double_exponential)
#include <gsl/gsl_blas.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_multilarge_nlinear.h>
#include <gsl/gsl_vector.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_data.h"

namespace {

constexpr std::size_t kBlockRows = 4096;  // rows of J formed at a time in the multilarge callback

struct Data {
  std::vector<double> x, y;
  bool double_exponential = false;
  std::size_t p = 3;
};

// Model value at row i and its gradient (p entries) at parameters q.
double model_row(const Data& d, const double* q, std::size_t i, double* gradient) {
  const double x = d.x[i];
  if (!d.double_exponential) {
    const double e = std::exp(-q[1] * x);
    if (gradient) gradient[0] = e, gradient[1] = -q[0] * x * e, gradient[2] = 1.0;
    return q[0] * e + q[2];
  }
  const double e1 = std::exp(-q[1] * x), e2 = std::exp(-q[3] * x);
  if (gradient) {
    gradient[0] = e1, gradient[1] = -q[0] * x * e1;
    gradient[2] = e2, gradient[3] = -q[2] * x * e2;
    gradient[4] = 1.0;
  }
  return q[0] * e1 + q[2] * e2 + q[4];
}

int residuals(const gsl_vector* q, void* params, gsl_vector* f) {
  const Data& d = *static_cast<const Data*>(params);
  for (std::size_t i = 0; i < d.x.size(); ++i) gsl_vector_set(f, i, model_row(d, q->data, i, nullptr) - d.y[i]);
  return GSL_SUCCESS;
}

// multilarge: v = J^T u (or J u) and, when asked, JTJ = J^T J, from blocks of kBlockRows rows.
int large_jacobian(CBLAS_TRANSPOSE_t trans, const gsl_vector* q, const gsl_vector* u, void* params, gsl_vector* v,
                   gsl_matrix* jtj) {
  const Data& d = *static_cast<const Data*>(params);
  const std::size_t m = d.x.size(), p = d.p;
  std::vector<double> block(kBlockRows * p);
  if (jtj) gsl_matrix_set_zero(jtj);
  if (v && trans == CblasTrans) gsl_vector_set_zero(v);
  for (std::size_t begin = 0; begin < m; begin += kBlockRows) {
    const std::size_t rows = std::min(kBlockRows, m - begin);
    for (std::size_t r = 0; r < rows; ++r) model_row(d, q->data, begin + r, block.data() + r * p);
    gsl_matrix_view j = gsl_matrix_view_array(block.data(), rows, p);
    if (jtj) gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0, &j.matrix, 1.0, jtj);
    if (!v) continue;
    if (trans == CblasTrans) {
      gsl_vector_const_view ub = gsl_vector_const_subvector(u, begin, rows);
      gsl_blas_dgemv(CblasTrans, 1.0, &j.matrix, &ub.vector, 1.0, v);
    } else {
      gsl_vector_view vb = gsl_vector_subvector(v, begin, rows);
      gsl_blas_dgemv(CblasNoTrans, 1.0, &j.matrix, u, 0.0, &vb.vector);
    }
  }
  return GSL_SUCCESS;
}

// multifit: the whole m x p Jacobian.
int full_jacobian(const gsl_vector* q, void* params, gsl_matrix* jacobian) {
  const Data& d = *static_cast<const Data*>(params);
  for (std::size_t i = 0; i < d.x.size(); ++i) model_row(d, q->data, i, gsl_matrix_ptr(jacobian, i, 0));
  return GSL_SUCCESS;
}

struct Outcome {
  std::size_t iterations = 0, nfev = 0, njev = 0;
  int status = 0;
};

Outcome solve_multilarge(Data& d, gsl_vector* q) {
  gsl_multilarge_nlinear_parameters parameters = gsl_multilarge_nlinear_default_parameters();
  gsl_multilarge_nlinear_workspace* w =
      gsl_multilarge_nlinear_alloc(gsl_multilarge_nlinear_trust, &parameters, d.x.size(), d.p);
  gsl_multilarge_nlinear_fdf fdf{};
  fdf.f = residuals;
  fdf.df = large_jacobian;
  fdf.n = d.x.size();
  fdf.p = d.p;
  fdf.params = &d;
  gsl_multilarge_nlinear_init(q, &fdf, w);
  int info = 0;
  Outcome out;
  out.status = gsl_multilarge_nlinear_driver(200, 1e-10, 1e-10, 0.0, nullptr, nullptr, &info, w);
  gsl_vector_memcpy(q, gsl_multilarge_nlinear_position(w));
  out.iterations = gsl_multilarge_nlinear_niter(w);
  out.nfev = fdf.nevalf;
  out.njev = fdf.nevaldf2;  // passes forming J^T J (each also gives J^T f)
  gsl_multilarge_nlinear_free(w);
  return out;
}

Outcome solve_multifit(Data& d, gsl_vector* q) {
  gsl_multifit_nlinear_parameters parameters = gsl_multifit_nlinear_default_parameters();
  gsl_multifit_nlinear_workspace* w =
      gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &parameters, d.x.size(), d.p);
  gsl_multifit_nlinear_fdf fdf{};
  fdf.f = residuals;
  fdf.df = full_jacobian;
  fdf.n = d.x.size();
  fdf.p = d.p;
  fdf.params = &d;
  gsl_multifit_nlinear_init(q, &fdf, w);
  int info = 0;
  Outcome out;
  out.status = gsl_multifit_nlinear_driver(200, 1e-10, 1e-10, 0.0, nullptr, nullptr, &info, w);
  gsl_vector_memcpy(q, gsl_multifit_nlinear_position(w));
  out.iterations = gsl_multifit_nlinear_niter(w);
  out.nfev = fdf.nevalf;
  out.njev = fdf.nevaldf;
  gsl_multifit_nlinear_free(w);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s FILE.h5 MODEL P0 multilarge|multifit\n", argv[0]);
    return 2;
  }
  Data d;
  d.x = curvefit::bench::read_dataset(argv[1], "/x");
  d.y = curvefit::bench::read_dataset(argv[1], "/y");
  d.double_exponential = std::string(argv[2]) == "double_exponential";
  d.p = d.double_exponential ? 5 : 3;
  std::vector<double> p0;
  std::stringstream text(argv[3]);
  for (std::string v; std::getline(text, v, ',');) p0.push_back(std::stod(v));
  if (p0.size() != d.p) {
    std::fprintf(stderr, "%s: P0 needs %zu values\n", argv[0], d.p);
    return 2;
  }
  const std::string solver = argv[4];
  gsl_set_error_handler_off();
  gsl_vector* q = gsl_vector_alloc(d.p);
  for (std::size_t j = 0; j < d.p; ++j) gsl_vector_set(q, j, p0[j]);

  const auto start = std::chrono::steady_clock::now();
  const Outcome out = solver == "multifit" ? solve_multifit(d, q) : solve_multilarge(d, q);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"contender\": \"gsl %s lm\", \"m\": %zu, \"time_s\": %.6g, \"iterations\": %zu, \"nfev\": %zu, "
              "\"njev\": %zu, \"status\": %d, \"peak_rss_bytes\": %ld, \"params\": [",
              solver == "multifit" ? "multifit" : "multilarge", d.x.size(), elapsed, out.iterations, out.nfev,
              out.njev, out.status, usage.ru_maxrss * 1024L);
  for (std::size_t j = 0; j < d.p; ++j) std::printf("%s%.17g", j ? ", " : "", gsl_vector_get(q, j));
  std::printf("]}\n");
  gsl_vector_free(q);
  return out.status == GSL_SUCCESS ? 0 : 1;
}
