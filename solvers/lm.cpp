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

#include <Eigen/Core>

#include "memory/memory_manager.h"
#include "solvers/solve.h"
#include "solvers/trust_region_driver.h"

namespace curvefit {

namespace {

using Index = Eigen::Index;
using MatrixView = Eigen::Map<Eigen::MatrixXd>;
using VectorView = Eigen::Map<Eigen::VectorXd>;

constexpr double machine_epsilon = std::numeric_limits<double>::epsilon();

// The n x n matrix and n-vectors of one LM run, views into the run's SolverWorkspace beyond the
// driver's own vectors (x, g, the step and the trial point: trust_region_driver.h). The counts are
// workspace_spec(Algorithm::lm) in solvers/algorithm.h: 1 matrix, 14 vectors; change both together.
struct LmWorkspace {
  LmWorkspace(SolverWorkspace& pool, Index n)
      : r(pool.matrix(0), n, n),
        diag(pool.vector(tr::kDriverVectors + 0), n),
        qtf(pool.vector(tr::kDriverVectors + 1), n),
        pivot(pool.vector(tr::kDriverVectors + 2), n),
        step(pool.vector(tr::kDriverVectors + 3), n),
        sdiag(pool.vector(tr::kDriverVectors + 4), n),
        wa1(pool.vector(tr::kDriverVectors + 5), n),
        wa2(pool.vector(tr::kDriverVectors + 6), n),
        model_residual(pool.vector(tr::kDriverVectors + 7), n),
        qr_norms(pool.vector(tr::kDriverVectors + 8), n),
        qr_reference_norms(pool.vector(tr::kDriverVectors + 9), n) {}

  MatrixView r;                   // matrix 0: pivoted R (upper triangle); its strict lower triangle
                                  //           holds S^T of the damped system (step 2)
  VectorView diag;                // vector 4: the scaling D (MINPACK's diag)
  VectorView qtf;                 // vector 5: (Q1 Q2)^T f, the first n components
  VectorView pivot;               // vector 6: column permutation, pivot[j] = original index of
                                  //           column j (exact small integers kept as doubles, so
                                  //           that the whole workspace lives in the pool)
  VectorView step;                // vector 7: lmpar's solution x (the trial step is -x)
  VectorView sdiag;               // vector 8: diagonal of S (step 2)
  VectorView wa1;                 // vector 9: lmpar's first work vector; sqrt(par) D for step 2
  VectorView wa2;                 // vector 10: lmpar's second work vector; D p; step 2's rhs
  VectorView model_residual;      // vector 11: R P^T p, for the predicted reduction
  VectorView qr_norms;            // vector 12: step 1's partial column norms (downdated)
  VectorView qr_reference_norms;  // vector 13: step 1's column norms at their last recomputation
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
    ws.qr_norms[j] = a.col(j).stableNorm();
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
    double ajnorm = a.col(j).tail(n - j).stableNorm();
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
            ws.qr_norms[k] = a.col(k).tail(n - j - 1).stableNorm();
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
  double dxnorm = wa2.stableNorm();
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
    const double norm = wa1.stableNorm();
    parl = ((fp / delta) / norm) / norm;
  }
  // Upper bound paru = ||D^-1 J^T f|| / Delta.
  for (Index j = 0; j < n; ++j)
    wa1[j] = r.col(j).head(j + 1).dot(qtb.head(j + 1)) / diag[column_of(ws.pivot, j)];
  const double gnorm = wa1.stableNorm();
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
    dxnorm = wa2.stableNorm();
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
    const double norm = wa1.stableNorm();
    const double correction = ((fp / delta) / norm) / norm;
    if (fp > 0) parl = std::max(parl, par);
    if (fp < 0) paru = std::min(paru, par);
    par = std::max(parl, par + correction);
  }
  return par;
}

// ---------------------------------------------------------------------------------------------
// 4. The iteration (MINPACK lmder), as a strategy of the one trust-region loop
// (trust_region_driver.h), which owns the start, the counts, the history, gtol (Moré's gradient
// cosine, tr::largest_gradient_cosine) and max_nfev; this class owns the rest of lmder.
//
// Options as MINPACK reads them:
// - x_scale given: D = 1 / x_scale, fixed (MINPACK mode 2). x_scale empty and x_scale_jac (lm's
//   default): D = the running maximum of the Jacobian column norms (MINPACK mode 1, scipy's
//   x_scale='jac'). x_scale empty without x_scale_jac: D = I.
// - ftol, xtol, gtol are MINPACK's: ftol bounds the relative actual and predicted reductions of the
//   cost, xtol the radius relative to ||D x||, gtol the largest gradient cosine. When a test can
//   only be met at machine precision (MINPACK's info 6, 7, 8: a tolerance below what rounding
//   allows), the run stops with the matching ftol / xtol / gtol status. The defaults (options.h)
//   were measured on NIST StRD for LM too: ftol 1e-15 (1e-12 stops ENSO at LRE 5.1, as MINPACK
//   itself through scipy does; 1e-14 is the loosest value that certifies all 54 runs); max_nfev
//   1000 n (MGH09 start 1 needs 526 evaluations, Bennett5 start 1 767, as in MINPACK).
// - initial_radius_factor is MINPACK's factor: Delta_0 = factor * ||D x0||.
// Counting as MINPACK: nfev counts residual evaluations (the start and every trial point), njev
// Jacobian evaluations. A point reached by an accepted step is linearized once (njev only), unless
// its trial evaluation already carried the Jacobian (trial_linearization), which is then reused.
// ---------------------------------------------------------------------------------------------
class LmStrategy final : public tr::TrustRegionStrategy {
 public:
  LmStrategy(const SolverOptions& options, SolverWorkspace& pool, Index n)
      : options_(options), ws_(pool, n), scale_by_jacobian_(uses_jacobian_scaling(options)) {}

  // Scaling (Moré §6) and the initial radius Delta_0 = factor * ||D x0|| (factor if that is 0).
  void start(const tr::ConstVecRef& x, const tr::ConstVecRef&, const Linearization& lin, double) override {
    if (scale_by_jacobian_) {
      ws_.diag = lin.col_norms;
      for (Index j = 0; j < ws_.diag.size(); ++j)
        if (ws_.diag[j] == 0) ws_.diag[j] = 1;
    } else if (options_.x_scale.size() != 0) {
      ws_.diag = options_.x_scale.cwiseInverse();
    } else {
      ws_.diag.setOnes();
    }
    xnorm_ = ws_.diag.cwiseProduct(x).stableNorm();
    delta_ = options_.initial_radius_factor * xnorm_;
    if (delta_ == 0) delta_ = options_.initial_radius_factor;
  }

  tr::Optimality measure(const tr::ConstVecRef&, const tr::ConstVecRef& g, const Linearization& lin,
                         double cost) override {
    gnorm_ = tr::largest_gradient_cosine(g, lin.col_norms, std::sqrt(2 * cost));
    return {g.lpNorm<Eigen::Infinity>(), gnorm_};
  }

  // The linearization at x, pivoted (step 1); D grows with the column norms.
  void prepare(const tr::ConstVecRef&, const tr::ConstVecRef&, const Linearization& lin, double cost) override {
    ws_.r = lin.R;
    ws_.qtf = lin.qtf;
    pivoted_qr(ws_);
    cost_ = cost;
    fnorm_ = std::sqrt(2 * cost);
    if (scale_by_jacobian_) ws_.diag = ws_.diag.cwiseMax(lin.col_norms);
  }

  // The step from the LM parameter (step 3), and the predicted relative reduction and directional
  // derivative (Moré §4) from ||J p||^2 = ||R P^T p||^2 and par ||D p||^2.
  tr::Proposal propose(const tr::ConstVecRef& x, tr::VecRef step, tr::VecRef x_new) override {
    par_ = levenberg_marquardt_parameter(ws_, delta_, par_);
    step = -ws_.step;
    x_new = x + step;
    ws_.wa2 = ws_.diag.cwiseProduct(step);
    pnorm_ = ws_.wa2.stableNorm();
    if (first_step_) delta_ = std::min(delta_, pnorm_);  // Delta_0 no larger than the first step
    const Index n = step.size();
    ws_.model_residual.setZero();
    for (Index j = 0; j < n; ++j)
      ws_.model_residual.head(j + 1) += step[column_of(ws_.pivot, j)] * ws_.r.col(j).head(j + 1);
    const double temp1 = ws_.model_residual.stableNorm() / fnorm_;
    const double temp2 = std::sqrt(par_) * pnorm_ / fnorm_;
    prered_ = temp1 * temp1 + temp2 * temp2 / 0.5;
    dirder_ = -(temp1 * temp1 + temp2 * temp2);
    return {prered_, false};  // lmder has no test on the step before evaluating it
  }

  bool acceptable(double trial_cost) const override { return ratio(actual_reduction(trial_cost)) >= 1e-4; }

  // The radius update (Moré §4), acceptance at ratio >= 1e-4, and the convergence tests (Moré §7;
  // MINPACK info 1, 2, 3, then 6, 7, 8).
  tr::Verdict judge(const tr::ConstVecRef& x_new, const tr::Trial& trial) override {
    const bool sane = trial.finite && trial.cost < 100 * cost_;
    const double actred = sane ? actual_reduction(trial.cost) : -1.0;
    const double r = ratio(actred);
    if (r <= 0.25) {
      double contraction = actred >= 0 ? 0.5 : 0.5 * dirder_ / (dirder_ + 0.5 * actred);
      if (!sane || contraction < 0.1) contraction = 0.1;
      delta_ = contraction * std::min(delta_, pnorm_ / 0.1);
      par_ /= contraction;
    } else if (par_ == 0 || r >= 0.75) {
      delta_ = pnorm_ / 0.5;
      par_ *= 0.5;
    }
    tr::Verdict verdict{r >= 1e-4, std::nullopt};
    if (verdict.accept) {
      xnorm_ = ws_.diag.cwiseProduct(x_new).stableNorm();
      first_step_ = false;
    }
    verdict.status = convergence(actred, r);
    return verdict;
  }

  double radius() const override { return delta_; }
  // Between iterations: the radius, the LM parameter (the next search starts from it), ||D x||,
  // whether a step has been taken yet, and D (MINPACK mode 1 keeps its running maximum).
  void save(SolverState& state) const override {
    state.scalars["lm.delta"] = delta_;
    state.scalars["lm.par"] = par_;
    state.scalars["lm.xnorm"] = xnorm_;
    state.scalars["lm.first_step"] = first_step_ ? 1 : 0;
    state.vectors["lm.diag"] = ws_.diag;
  }
  void restore(const SolverState& state) override {
    delta_ = tr::saved_scalar(state, "lm.delta");
    par_ = tr::saved_scalar(state, "lm.par");
    xnorm_ = tr::saved_scalar(state, "lm.xnorm");
    first_step_ = tr::saved_scalar(state, "lm.first_step") != 0;
    ws_.diag = tr::saved_vector(state, "lm.diag", ws_.diag.size());
  }

 private:
  // Actual relative reduction; a cost that grew a hundredfold (or is not finite: residuals that
  // overflowed or are undefined there) counts as -1, a plain failure.
  double actual_reduction(double trial_cost) const {
    return trial_cost < 100 * cost_ ? 1 - trial_cost / cost_ : -1.0;
  }
  double ratio(double actred) const { return prered_ != 0 ? actred / prered_ : 0; }

  std::optional<Status> convergence(double actred, double r) const {
    const bool ftol_met = std::abs(actred) <= options_.ftol && prered_ <= options_.ftol && 0.5 * r <= 1;
    const bool xtol_met = delta_ <= options_.xtol * xnorm_;
    if (ftol_met && xtol_met) return Status::ftol_and_xtol;
    if (ftol_met) return Status::ftol;
    if (xtol_met) return Status::xtol;
    if (std::abs(actred) <= machine_epsilon && prered_ <= machine_epsilon && 0.5 * r <= 1) return Status::ftol;
    if (delta_ <= machine_epsilon * xnorm_) return Status::xtol;
    if (gnorm_ <= machine_epsilon) return Status::gtol;
    return std::nullopt;
  }

  const SolverOptions& options_;
  LmWorkspace ws_;
  const bool scale_by_jacobian_;
  double delta_ = 0, par_ = 0, xnorm_ = 0, cost_ = 0, fnorm_ = 0, gnorm_ = 0;
  bool first_step_ = true;
  // The last proposal.
  double pnorm_ = 0, prered_ = 0, dirder_ = 0;
};

}  // namespace

SolverResult solve_lm(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options) {
  return tr::run_method<LmStrategy>(Algorithm::lm, objective, x0, options);
}

}  // namespace curvefit
