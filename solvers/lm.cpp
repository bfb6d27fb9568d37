// Levenberg-Marquardt as MINPACK's lmder does it: J. J. Moré, "The Levenberg-Marquardt algorithm:
// implementation and theory", Numerical Analysis, Lecture Notes in Mathematics 630 (1978).
//
// lmder factors the m x n Jacobian with column pivoting, J P = Q R. Here the objective hands us the
// compressed linearization J = Q1 R1 (R1 is n x n) and Q1^T f. The pivoted QR of R1,
//     R1 P = Q2 R   =>   J P = (Q1 Q2) R,   (Q1 Q2)^T f = Q2^T (Q1^T f),
// is the pivoted QR of J up to rounding, at O(n^3) and without ever seeing m. From there on this
// file is lmder, in the paper's order:
//   1. the pivoted QR of R1 and Q2^T Q1^T f                              (MINPACK qrfac)
//   2. the damped least-squares step: Givens rotations eliminate sqrt(par) D from [R; sqrt(par) D]
//      so that (J^T J + par D^2) p = -J^T f is solved without forming J^T J      (Moré §3, qrsolv)
//   3. the Levenberg-Marquardt parameter: Newton's method on the secular equation
//      ||D p(par)|| = Delta, safeguarded by the bounds [parl, paru]               (Moré §5, lmpar)
//   4. the iteration: scaling D (Moré §6), the ratio of actual to predicted reduction, the radius
//      update (Moré §4, thresholds 0.25 / 0.75, the 0.1..0.5 contraction), acceptance at
//      ratio >= 1e-4, and MINPACK's convergence tests (Moré §7)                   (lmder)
//
// The sums of squares of lmder become costs: ||f||^2 = 2 * cost. Moré's relative reductions
// (||f||^2 - ||f_new||^2) / ||f||^2 are ratios of the same quantities, so they read the same; and
// for a robust loss they are exactly the reductions of the cost and of its Gauss-Newton model.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include "memory/memory_manager.h"
#include "solvers/solve.h"

namespace curvefit {

namespace {

using Index = Eigen::Index;
using MatrixView = Eigen::Map<Eigen::MatrixXd>;
using VectorView = Eigen::Map<Eigen::VectorXd>;

constexpr double machine_epsilon = std::numeric_limits<double>::epsilon();

// The n x n matrix and n-vectors of one LM run, from the memory module's pool. The counts here are
// workspace_spec(Algorithm::lm) in memory/solver_workspace.h: change both together.
// (x and the trial point are Eigen::VectorXd outside the pool because Objective::evaluate takes
// const Eigen::VectorXd&; the Linearizations are the objective's.)
struct LmWorkspace {
  explicit LmWorkspace(Index n)
      : pool(Algorithm::lm, static_cast<std::size_t>(n)),
        r(pool.matrix(0), n, n),
        diag(pool.vector(0), n),
        qtf(pool.vector(1), n),
        pivot(pool.vector(2), n),
        grad(pool.vector(3), n),
        step(pool.vector(4), n),
        sdiag(pool.vector(5), n),
        wa1(pool.vector(6), n),
        wa2(pool.vector(7), n),
        model_residual(pool.vector(8), n),
        qr_norms(pool.vector(9), n),
        qr_reference_norms(pool.vector(10), n) {}

  SolverWorkspace pool;
  MatrixView r;                   // matrix 0: pivoted R (upper triangle); its strict lower triangle
                                  //           holds S^T of the damped system (step 2)
  VectorView diag;                // vector 0: the scaling D (MINPACK's diag)
  VectorView qtf;                 // vector 1: (Q1 Q2)^T f, the first n components
  VectorView pivot;               // vector 2: column permutation, pivot[j] = original index of
                                  //           column j (exact small integers kept as doubles, so
                                  //           that the whole workspace lives in the pool)
  VectorView grad;                // vector 3: J^T f at the current point
  VectorView step;                // vector 4: the trial step p
  VectorView sdiag;               // vector 5: diagonal of S (step 2)
  VectorView wa1;                 // vector 6: lmpar's first work vector; sqrt(par) D for step 2
  VectorView wa2;                 // vector 7: lmpar's second work vector; D p; step 2's rhs
  VectorView model_residual;      // vector 8: R P^T p, for the predicted reduction
  VectorView qr_norms;            // vector 9: step 1's partial column norms (downdated)
  VectorView qr_reference_norms;  // vector 10: step 1's column norms at their last recomputation
};

Index column_of(const VectorView& pivot, Index j) { return static_cast<Index>(pivot[j]); }

// ---------------------------------------------------------------------------------------------
// 1. Pivoted QR of R1 (MINPACK qrfac with pivot = true).
// Householder reflections reduce r to upper triangular form, bringing the column of largest
// remaining norm into the pivot position first. Each reflection is applied to qtf at once, so the
// reflections need not be kept: on return r = R (zeros below the diagonal), qtf = Q2^T qtf.
// ---------------------------------------------------------------------------------------------
void pivoted_qr(LmWorkspace& ws) {
  MatrixView& a = ws.r;
  const Index n = a.cols();
  for (Index j = 0; j < n; ++j) {
    ws.qr_norms[j] = a.col(j).norm();
    ws.qr_reference_norms[j] = ws.qr_norms[j];
    ws.pivot[j] = static_cast<double>(j);
  }
  for (Index j = 0; j < n; ++j) {
    Index largest = j;
    for (Index k = j + 1; k < n; ++k)
      if (ws.qr_norms[k] > ws.qr_norms[largest]) largest = k;
    if (largest != j) {
      a.col(j).swap(a.col(largest));
      ws.qr_norms[largest] = ws.qr_norms[j];
      ws.qr_reference_norms[largest] = ws.qr_reference_norms[j];
      std::swap(ws.pivot[j], ws.pivot[largest]);
    }
    // The reflection I - v v^T / v_0 maps column j below the diagonal onto -ajnorm e_j.
    double ajnorm = a.col(j).tail(n - j).norm();
    if (ajnorm != 0) {
      if (a(j, j) < 0) ajnorm = -ajnorm;
      auto v = a.col(j).tail(n - j);
      v /= ajnorm;
      v[0] += 1;
      for (Index k = j + 1; k < n; ++k) {
        auto column = a.col(k).tail(n - j);
        column -= (v.dot(column) / v[0]) * v;
        // Downdate the remaining norm; recompute it when cancellation has eaten its digits.
        if (ws.qr_norms[k] != 0) {
          const double ratio = a(j, k) / ws.qr_norms[k];
          ws.qr_norms[k] *= std::sqrt(std::max(0.0, 1 - ratio * ratio));
          const double kept = ws.qr_norms[k] / ws.qr_reference_norms[k];
          if (0.05 * kept * kept <= machine_epsilon) {
            ws.qr_norms[k] = a.col(k).tail(n - j - 1).norm();
            ws.qr_reference_norms[k] = ws.qr_norms[k];
          }
        }
      }
      auto rhs = ws.qtf.tail(n - j);
      rhs -= (v.dot(rhs) / v[0]) * v;
    }
    a(j, j) = -ajnorm;
    a.col(j).tail(n - j - 1).setZero();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. The damped step (MINPACK qrsolv). With J P = Q R and a diagonal D, solve
//        min || [J; D] x - [f; 0] ||,  i.e.  (J^T J + D^2) x = J^T f,
// by eliminating the rows of P^T D P from [R; P^T D P] with Givens rotations, one row at a time:
// [R; P^T D P] = Q3 [S; 0]. S^T goes into the strict lower triangle of r (R's upper triangle and
// diagonal are kept), S's diagonal into sdiag. A singular S gives a least-squares solution.
// Here d = sqrt(par) * diag, qtb = (Q1 Q2)^T f, and x returns the solution (the negative step).
// ---------------------------------------------------------------------------------------------
void solve_damped(MatrixView& r, const VectorView& pivot, const VectorView& d, const VectorView& qtb,
                  VectorView& x, VectorView& sdiag, VectorView& z) {
  const Index n = r.cols();
  // Copy R^T into the lower triangle (it becomes S^T) and save R's diagonal in x.
  for (Index j = 0; j < n; ++j) r.col(j).tail(n - j) = r.row(j).tail(n - j).transpose();
  x = r.diagonal();
  z = qtb;
  for (Index j = 0; j < n; ++j) {
    const double dj = d[column_of(pivot, j)];
    if (dj != 0) {
      sdiag.tail(n - j).setZero();
      sdiag[j] = dj;
      // Eliminating this row of D changes only one component of (Q^T f, 0) beyond the first n,
      // which starts at zero.
      double qtbpj = 0;
      for (Index k = j; k < n; ++k) {
        if (sdiag[k] == 0) continue;
        double cosine, sine;
        if (std::abs(r(k, k)) < std::abs(sdiag[k])) {
          const double cotangent = r(k, k) / sdiag[k];
          sine = 0.5 / std::sqrt(0.25 + 0.25 * cotangent * cotangent);
          cosine = sine * cotangent;
        } else {
          const double tangent = sdiag[k] / r(k, k);
          cosine = 0.5 / std::sqrt(0.25 + 0.25 * tangent * tangent);
          sine = cosine * tangent;
        }
        r(k, k) = cosine * r(k, k) + sine * sdiag[k];
        const double zk = cosine * z[k] + sine * qtbpj;
        qtbpj = -sine * z[k] + cosine * qtbpj;
        z[k] = zk;
        for (Index i = k + 1; i < n; ++i) {
          const double rik = cosine * r(i, k) + sine * sdiag[i];
          sdiag[i] = -sine * r(i, k) + cosine * sdiag[i];
          r(i, k) = rik;
        }
      }
    }
    sdiag[j] = r(j, j);
    r(j, j) = x[j];
  }
  // Back substitution S z = Q3^T (Q^T f); singular trailing part set to zero.
  Index nsing = n;
  for (Index j = 0; j < n; ++j) {
    if (sdiag[j] == 0 && nsing == n) nsing = j;
    if (nsing < n) z[j] = 0;
  }
  for (Index j = nsing - 1; j >= 0; --j) {
    const Index below = nsing - j - 1;
    const double sum = r.col(j).segment(j + 1, below).dot(z.segment(j + 1, below));
    z[j] = (z[j] - sum) / sdiag[j];
  }
  for (Index j = 0; j < n; ++j) x[column_of(pivot, j)] = z[j];
}

// ---------------------------------------------------------------------------------------------
// 3. The Levenberg-Marquardt parameter (MINPACK lmpar). Find par >= 0 such that the solution x of
// (J^T J + par D^2) x = J^T f satisfies | ||D x|| - Delta | <= 0.1 Delta, or par = 0 when the
// Gauss-Newton step already lies inside the region. phi(par) = ||D x(par)|| - Delta is decreasing
// and convex-like; Moré's Newton iteration on it, kept inside [parl, paru], converges in a couple
// of steps on average (at most 10). Returns par; x holds the solution (the step is -x).
// ---------------------------------------------------------------------------------------------
double levenberg_marquardt_parameter(LmWorkspace& ws, double delta, double par) {
  MatrixView& r = ws.r;
  const VectorView& diag = ws.diag;
  const VectorView& qtb = ws.qtf;
  VectorView& x = ws.step;
  VectorView& wa1 = ws.wa1;
  VectorView& wa2 = ws.wa2;
  const Index n = r.cols();
  constexpr double dwarf = std::numeric_limits<double>::min();

  // The Gauss-Newton direction; a least-squares one when R is singular.
  Index nsing = n;
  for (Index j = 0; j < n; ++j) {
    wa1[j] = qtb[j];
    if (r(j, j) == 0 && nsing == n) nsing = j;
    if (nsing < n) wa1[j] = 0;
  }
  for (Index j = nsing - 1; j >= 0; --j) {
    wa1[j] /= r(j, j);
    wa1.head(j) -= wa1[j] * r.col(j).head(j);
  }
  for (Index j = 0; j < n; ++j) x[column_of(ws.pivot, j)] = wa1[j];

  // Accept it if it lies (nearly) within the trust region.
  wa2 = diag.cwiseProduct(x);
  double dxnorm = wa2.norm();
  double fp = dxnorm - delta;
  if (fp <= 0.1 * delta) return 0;

  // Lower bound parl from the Newton step at par = 0 (zero when R is rank deficient).
  double parl = 0;
  if (nsing == n) {
    for (Index j = 0; j < n; ++j) {
      const Index l = column_of(ws.pivot, j);
      wa1[j] = diag[l] * (wa2[l] / dxnorm);
    }
    for (Index j = 0; j < n; ++j) wa1[j] = (wa1[j] - r.col(j).head(j).dot(wa1.head(j))) / r(j, j);
    const double norm = wa1.norm();
    parl = ((fp / delta) / norm) / norm;
  }
  // Upper bound paru = ||D^-1 J^T f|| / Delta.
  for (Index j = 0; j < n; ++j)
    wa1[j] = r.col(j).head(j + 1).dot(qtb.head(j + 1)) / diag[column_of(ws.pivot, j)];
  const double gnorm = wa1.norm();
  double paru = gnorm / delta;
  if (paru == 0) paru = dwarf / std::min(delta, 0.1);

  // Start from the previous par, moved into [parl, paru].
  par = std::min(std::max(par, parl), paru);
  if (par == 0) par = gnorm / dxnorm;

  for (int iteration = 1;; ++iteration) {
    if (par == 0) par = std::max(dwarf, 0.001 * paru);
    wa1 = std::sqrt(par) * diag;
    solve_damped(r, ws.pivot, wa1, qtb, x, ws.sdiag, wa2);
    wa2 = diag.cwiseProduct(x);
    dxnorm = wa2.norm();
    const double previous_fp = fp;
    fp = dxnorm - delta;
    // Close enough; or parl = 0 and phi stopped increasing towards zero from below; or 10 tries.
    if (std::abs(fp) <= 0.1 * delta || (parl == 0 && fp <= previous_fp && previous_fp < 0) ||
        iteration == 10)
      break;
    // Newton correction phi / phi', with phi' from S: -||S^-T P^T D^2 x / ||D x|| ||^2 / ||D x||.
    for (Index j = 0; j < n; ++j) {
      const Index l = column_of(ws.pivot, j);
      wa1[j] = diag[l] * (wa2[l] / dxnorm);
    }
    for (Index j = 0; j < n; ++j) {
      wa1[j] /= ws.sdiag[j];
      wa1.tail(n - j - 1) -= wa1[j] * r.col(j).tail(n - j - 1);
    }
    const double norm = wa1.norm();
    const double correction = ((fp / delta) / norm) / norm;
    if (fp > 0) parl = std::max(parl, par);
    if (fp < 0) paru = std::min(paru, par);
    par = std::max(parl, par + correction);
  }
  return par;
}

std::string describe_point(const Eigen::VectorXd& x) {
  std::ostringstream out;
  out.precision(10);
  out << '[';
  for (Index j = 0; j < x.size(); ++j) out << (j ? ", " : "") << x[j];
  out << ']';
  return out.str();
}

// MINPACK's gradient test (Moré §7): the largest cosine of the angle between f and a column of J,
//     max_j |(J^T f)_j| / (||J_j|| ||f||),
// which is scale-free; zero columns are skipped, and a zero residual counts as converged.
double largest_gradient_cosine(const VectorView& grad, const Eigen::VectorXd& col_norms, double fnorm) {
  if (fnorm == 0) return 0;
  double gnorm = 0;
  for (Index j = 0; j < grad.size(); ++j)
    if (col_norms[j] != 0) gnorm = std::max(gnorm, std::abs(grad[j] / fnorm) / col_norms[j]);
  return gnorm;
}

// LM's termination settings: the shared defaults of SolverOptions, measured on NIST StRD for LM
// too (54 runs, exact derivatives; tests/solvers/nist_test.cpp, NistStrd.LmSolvesAtLeast53Runs):
// - ftol 1e-15. MINPACK's ftol bounds the relative reduction of the cost, which for
//   large-residual problems says little about the parameters: with 1e-12 ENSO stops at LRE 5.1
//   (MINPACK itself, through scipy, does the same); 1e-14 is the loosest value that certifies all
//   54 runs (mean LRE 9.00), 1e-15 costs 2.5% more evaluations for mean 9.13.
// - max_nfev 0 means 1000 n. MGH09 start 1 needs 526 evaluations (132 n) and Bennett5 start 1
//   needs 767 (256 n), as in MINPACK: scipy's 100 n would stop both early.
struct LmTolerances {
  double ftol, xtol, gtol;
  int max_nfev;
};
constexpr int lm_default_evaluations_per_parameter = 1000;

LmTolerances effective_tolerances(const SolverOptions& options, Index n) {
  LmTolerances tol{options.ftol, options.xtol, options.gtol, options.max_nfev};
  if (tol.max_nfev == 0) tol.max_nfev = lm_default_evaluations_per_parameter * static_cast<int>(n);
  return tol;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 4. The iteration (MINPACK lmder).
//
// Options as MINPACK reads them:
// - x_scale given: D = 1 / x_scale, fixed (MINPACK mode 2). x_scale empty and x_scale_jac:
//   D = the running maximum of the Jacobian column norms (MINPACK mode 1, scipy's x_scale='jac').
//   x_scale empty without x_scale_jac: D = I.
// - ftol, xtol, gtol are MINPACK's: ftol bounds the relative actual and predicted reductions of the
//   cost, xtol the radius relative to ||D x||, gtol the largest gradient cosine. When a test can
//   only be met at machine precision (MINPACK's info 6, 7, 8: a tolerance below what rounding
//   allows), the run stops with the matching ftol / xtol / gtol status. Defaults: see
//   effective_tolerances above.
// - initial_radius_factor is MINPACK's factor: Delta_0 = factor * ||D x0||.
// Counting as MINPACK: nfev counts residual evaluations (the start and every trial point), njev
// Jacobian evaluations. A point reached by an accepted step is linearized once (njev only), unless
// its trial evaluation already carried the Jacobian (trial_linearization), which is then reused.
// ---------------------------------------------------------------------------------------------
SolverResult solve_lm(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options) {
  const Index n = objective.num_params();
  LmWorkspace ws(n);
  const LmTolerances tol = effective_tolerances(options, n);
  const bool scale_by_jacobian = options.x_scale.size() == 0 && options.x_scale_jac.value_or(true);
  bool linearize_trials = objective.prefers_linearization_at_trial_points();
  if (options.trial_linearization == SolverOptions::TrialLinearization::always) linearize_trials = true;
  if (options.trial_linearization == SolverOptions::TrialLinearization::never) linearize_trials = false;

  SolverResult result;
  Eigen::VectorXd x = x0;
  Evaluation current = objective.evaluate(x, true);
  int nfev = 1;
  int njev = 1;
  if (!current.finite || !current.has_linearization)
    throw std::invalid_argument("residuals are not finite at the starting point x0 = " + describe_point(x));

  int iteration = 0;
  std::optional<Status> status;

  // Called whenever x moves (and at the start): the gradient J^T f = R1^T (Q1^T f) at x, then the
  // history line and the callback.
  auto record_iteration = [&](double cost_change, double step_norm, double radius) {
    ws.grad.noalias() = current.lin.R.triangularView<Eigen::Upper>().transpose() * current.lin.qtf;
    IterationInfo info;
    info.iteration = iteration;
    info.cost = current.cost;
    info.cost_change = cost_change;
    info.step_norm = step_norm;
    info.optimality = ws.grad.lpNorm<Eigen::Infinity>();
    info.radius = radius;
    info.nfev = nfev;
    info.njev = njev;
    if (options.keep_history) result.history.push_back(info);
    if (options.callback && !options.callback(info)) status = Status::interrupted;
  };

  // Scaling (Moré §6) and the initial radius Delta_0 = factor * ||D x0|| (factor if that is 0).
  if (scale_by_jacobian) {
    ws.diag = current.lin.col_norms;
    for (Index j = 0; j < n; ++j)
      if (ws.diag[j] == 0) ws.diag[j] = 1;
  } else if (options.x_scale.size() != 0) {
    ws.diag = options.x_scale.cwiseInverse();
  } else {
    ws.diag.setOnes();
  }
  double xnorm = ws.diag.cwiseProduct(x).norm();
  double delta = options.initial_radius_factor * xnorm;
  if (delta == 0) delta = options.initial_radius_factor;
  double par = 0;

  record_iteration(0, 0, delta);
  bool first_step = true;
  Eigen::VectorXd x_new(n);

  while (!status) {
    // The linearization at x, pivoted (step 1), and the gradient test on ws.grad = J^T f at x.
    ws.r = current.lin.R;
    ws.qtf = current.lin.qtf;
    pivoted_qr(ws);
    const Eigen::VectorXd& col_norms = current.lin.col_norms;
    const double cost = current.cost;
    const double fnorm = std::sqrt(2 * cost);
    const double gnorm = largest_gradient_cosine(ws.grad, col_norms, fnorm);
    if (gnorm <= tol.gtol) {
      status = Status::gtol;
      break;
    }
    if (scale_by_jacobian) ws.diag = ws.diag.cwiseMax(col_norms);

    // Trial steps from x until one is accepted or a test stops the run.
    for (;;) {
      if (interrupt_requested(options)) {
        status = Status::interrupted;
        break;
      }
      par = levenberg_marquardt_parameter(ws, delta, par);
      ws.step = -ws.step;
      x_new = x + ws.step;
      ws.wa2 = ws.diag.cwiseProduct(ws.step);
      const double pnorm = ws.wa2.norm();
      if (first_step) delta = std::min(delta, pnorm);  // Delta_0 no larger than the first step

      Evaluation trial = objective.evaluate(x_new, linearize_trials);
      ++nfev;
      if (linearize_trials) ++njev;

      // Predicted relative reduction of the model and the directional derivative (Moré §4), from
      // ||J p||^2 = ||R P^T p||^2 and par ||D p||^2.
      ws.model_residual.setZero();
      for (Index j = 0; j < n; ++j)
        ws.model_residual.head(j + 1) += ws.step[column_of(ws.pivot, j)] * ws.r.col(j).head(j + 1);
      const double temp1 = ws.model_residual.norm() / fnorm;
      const double temp2 = std::sqrt(par) * pnorm / fnorm;
      const double prered = temp1 * temp1 + temp2 * temp2 / 0.5;
      const double dirder = -(temp1 * temp1 + temp2 * temp2);

      // Actual relative reduction; a cost that grew a hundredfold (or is not finite: residuals
      // that overflowed or are undefined there) counts as -1, a plain failure.
      auto actual_reduction = [cost](const Evaluation& e) {
        return e.finite && e.cost < 100 * cost ? 1 - e.cost / cost : -1.0;
      };
      double actred = actual_reduction(trial);
      double ratio = prered != 0 ? actred / prered : 0;

      // MINPACK linearizes an accepted point at the top of its next iteration; we do it here, so
      // that a point whose Jacobian is not finite turns into a failed step like any other.
      if (ratio >= 1e-4 && !trial.has_linearization) {
        trial = objective.evaluate(x_new, true);
        ++njev;
        actred = actual_reduction(trial);
        ratio = prered != 0 ? actred / prered : 0;
      }

      // The radius update (Moré §4).
      if (ratio <= 0.25) {
        double contraction = actred >= 0 ? 0.5 : 0.5 * dirder / (dirder + 0.5 * actred);
        if (!(trial.finite && trial.cost < 100 * cost) || contraction < 0.1) contraction = 0.1;
        delta = contraction * std::min(delta, pnorm / 0.1);
        par /= contraction;
      } else if (par == 0 || ratio >= 0.75) {
        delta = pnorm / 0.5;
        par *= 0.5;
      }

      const bool accepted = ratio >= 1e-4;
      if (accepted) {
        const double cost_change = cost - trial.cost;
        x.swap(x_new);
        current = std::move(trial);
        xnorm = ws.diag.cwiseProduct(x).norm();
        ++iteration;
        first_step = false;
        record_iteration(cost_change, ws.step.norm(), delta);
        if (status) break;
      }

      // Convergence (Moré §7; MINPACK info 1, 2, 3), then the limits (info 5, 6, 7, 8).
      const bool ftol_met =
          std::abs(actred) <= tol.ftol && prered <= tol.ftol && 0.5 * ratio <= 1;
      const bool xtol_met = delta <= tol.xtol * xnorm;
      if (ftol_met && xtol_met) status = Status::ftol_and_xtol;
      else if (ftol_met) status = Status::ftol;
      else if (xtol_met) status = Status::xtol;
      else if (nfev >= tol.max_nfev) status = Status::max_evaluations;
      else if (std::abs(actred) <= machine_epsilon && prered <= machine_epsilon && 0.5 * ratio <= 1)
        status = Status::ftol;
      else if (delta <= machine_epsilon * xnorm) status = Status::xtol;
      else if (gnorm <= machine_epsilon) status = Status::gtol;
      if (status || accepted) break;
    }
  }

  const Linearization& lin = current.lin;
  result.x = x;
  result.cost = current.cost;
  result.grad = lin.R.triangularView<Eigen::Upper>().transpose() * lin.qtf;
  result.optimality = result.grad.lpNorm<Eigen::Infinity>();
  result.active_mask = Eigen::VectorXi::Zero(n);
  result.nfev = nfev;
  result.njev = njev;
  result.iterations = iteration;
  result.status = *status;
  result.message = std::string(status_message(*status));
  result.success = status_converged(*status);
  result.linearization = std::move(current.lin);
  return result;
}

}  // namespace curvefit
