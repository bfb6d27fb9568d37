"""FitResult: what curvefit.fit returns, built on the native result (core's FitResult)."""
import html
import json
import math

import numpy as np


def _number(value):
    return math.nan if value is None else value


class FitResult:
    """The outcome of a fit.

    Attributes
    ----------
    params, stderr : dict
        Parameter name -> fitted value, and -> standard error (0 for fixed parameters); tied
        parameters (``tie=``) come last, with their propagated standard errors.
    tied : dict
        Tied parameter name -> its expression.
    ci95 : dict
        Parameter name -> (low, high) 95% confidence interval (Student t), or None.
    covariance, correlation : numpy.ndarray
        Model-sized matrices, in the order of `params` (tied parameters are not among them).
    chi2, reduced_chi2, r_squared, rmse, aic, bic : float
    dof, n_points, nfev, njev, passes : int
    status : str
        "converged", "max_evaluations", "interrupted" or "failed"; `success` is True when converged.
    mode : str
        "memory", "chunked" or "stream": how the data were held during the fit.
    memory : dict
        limit_bytes, predicted_peak_bytes and peak_rss_bytes.
    starts : dict or None
        With ``starts=N`` (N > 1): the ``starts`` object of ``--json``: count, seed, passes,
        separate_passes, the distinct ``minima`` (cost, count, params) and every start's ``runs``.
    profile : dict or None
        With ``ci="profile"``: parameter name -> {level: (low, high)} profile-likelihood
        intervals (an end is +-inf where the profile never reaches the level, or the bound).

    str(result) is the report of ``curvefit fit``; result.to_dict() its ``--json`` object.
    """

    def __init__(self, native, data=None):
        self._native = native
        self._data = data
        self._dict = json.loads(native.json())
        names = list(native.names)
        self.params = dict(zip(names, (float(v) for v in native.params)))
        self.stderr = dict(zip(names, (float(v) for v in native.stderr)))
        self.tied = {p["name"]: p["tied"] for p in self._dict["params"] if p.get("tied")}
        for p in self._dict["params"]:
            if p.get("tied"):
                self.params[p["name"]] = _number(p["value"])
                self.stderr[p["name"]] = _number(p["stderr"])
        self.ci95 = {p["name"]: (tuple(_number(v) for v in p["ci95"]) if p["ci95"] else None)
                     for p in self._dict["params"]}
        self.covariance = np.array(native.covariance)
        self.correlation = np.array(native.correlation)
        for key in ("chi2", "reduced_chi2", "r_squared", "rmse", "aic", "bic", "cost", "optimality"):
            setattr(self, key, _number(self._dict[key]))
        for key in ("dof", "n_points", "n_free", "nfev", "njev", "iterations", "passes", "chunk_rows",
                    "threads", "status", "success", "message", "mode", "method", "model", "formula"):
            setattr(self, key, self._dict[key])
        self.memory = dict(self._dict["memory"])
        # starts=N: the "starts" object of --json (minima, runs), else None.
        self.starts = self._dict.get("starts")
        profile = self._dict.get("profile")
        self.profile = None if not profile else {
            name: {i["level"]: (-math.inf if i["lower_found"] == "not reached" else i["lower"],
                                math.inf if i["upper_found"] == "not reached" else i["upper"])
                   for i in intervals}
            for name, intervals in profile["params"].items()}

    def to_dict(self):
        """The JSON object of ``curvefit fit --json`` for this fit, as Python objects."""
        return json.loads(json.dumps(self._dict))

    def __str__(self):
        return self._native.report()

    def __repr__(self):
        values = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return f"<curvefit.FitResult {self.status}: {values}>"

    def _repr_html_(self):
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{value:.6g}</td><td>{self.stderr[name]:.3g}</td>"
            f"<td>{'' if self.ci95[name] is None else '[%.6g, %.6g]' % self.ci95[name]}</td></tr>"
            for name, value in self.params.items())
        return (f"<p><b>curvefit</b> {html.escape(self.model)}: {self.status}, {self.n_points} points, "
                f"reduced &chi;&sup2; {self.reduced_chi2:.4g}, R&sup2; {self.r_squared:.6g}, mode {self.mode}</p>"
                "<table><tr><th>parameter</th><th>value</th><th>stderr</th><th>95% CI</th></tr>"
                f"{rows}</table>")

    def eval(self, x):
        """The fitted curve at x: shape (n,) for one predictor, (k, n) for k."""
        from ._data import predictor_columns
        return self._native.evaluate(predictor_columns(x))

    def eval_uncertainty(self, x, level=0.95):
        """Half-width of the fitted curve's confidence band at x (lmfit's ``eval_uncertainty``).

        The delta method with the fit's covariance (the robust one with ``cov="robust"``) and the
        model's exact derivatives, times Student's t quantile at (1 + level) / 2 with dof = m - n:
        the band is ``eval(x) -+ eval_uncertainty(x)``. lmfit's ``eval_uncertainty(sigma=level)``
        computes the same with numerical derivatives. ``curvefit fit --output`` writes this band
        and the prediction band.
        """
        from ._data import predictor_columns
        return self._native.eval_uncertainty(predictor_columns(x), float(level))

    def plot(self, ax=None, data=None, band_level=0.95):
        """Data, fitted curve with its confidence band, and residuals with matplotlib (one-predictor models).

        data: (x, y) to plot when the fit read a file (arrays given to fit() are plotted as they are).
        band_level: the shaded confidence band's level (``eval_uncertainty``); None draws no band.
        Returns the (curve, residual) axes.
        """
        import matplotlib.pyplot as plt
        if self._native.num_predictors != 1:
            raise ValueError("plot: only for models of one predictor")
        data = data if data is not None else self._data
        if data is None:
            raise ValueError("plot: the fit read a file; pass data=(x, y)")
        x, y = np.asarray(data[0], dtype=float), np.asarray(data[1], dtype=float)
        if ax is None:
            fig, (ax, ax_res) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        else:
            ax_res = ax.inset_axes([0.0, -0.35, 1.0, 0.25], sharex=ax)
        step = max(1, len(x) // 100_000)  # at most ~1e5 markers
        ax.plot(x[::step], y[::step], ".", ms=2, alpha=0.5, label="data")
        grid = np.linspace(np.min(x), np.max(x), 1000)
        curve = self.eval(grid)
        line, = ax.plot(grid, curve, "-", label=f"fit: {self.model}")
        if band_level is not None:
            half_width = self.eval_uncertainty(grid, band_level)
            ax.fill_between(grid, curve - half_width, curve + half_width, color=line.get_color(), alpha=0.2,
                            lw=0, label=f"{100 * band_level:g}% confidence band")
        ax.legend()
        ax_res.plot(x[::step], y[::step] - self.eval(x[::step]), ".", ms=2)
        ax_res.axhline(0, color="gray", lw=0.8)
        ax_res.set_ylabel("residual")
        return ax, ax_res
