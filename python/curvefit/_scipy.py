"""curvefit.curve_fit: scipy.optimize.curve_fit's call, curvefit's engine."""
import math

import numpy as np

from . import _curvefit
from ._api import _x_range, function_parameters, per_parameter_scale, run
from ._data import as_column, predictor_columns

_LEAST_SQUARES_OPTIONS = {"ftol", "xtol", "gtol", "max_nfev", "loss", "f_scale", "x_scale",
                          "memory_limit", "mode", "chunk_size", "threads"}


def _bounds(bounds, names):
    """scipy's (lb, ub), scalars or one per parameter -> [(name, low, high)] of the finite ones."""
    low, high = (np.broadcast_to(np.asarray(b, dtype=float), (len(names),)) for b in bounds)
    return [(n, float(lo), float(hi)) for n, lo, hi in zip(names, low, high)
            if math.isfinite(lo) or math.isfinite(hi)]


def _settings(kwargs):
    if "maxfev" in kwargs:  # leastsq's spelling
        kwargs["max_nfev"] = kwargs.pop("maxfev")
    unknown = set(kwargs) - _LEAST_SQUARES_OPTIONS
    if unknown:
        raise TypeError(f"curve_fit: unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    return {k: v for k, v in kwargs.items() if v is not None}


def curve_fit(f, xdata, ydata, p0=None, sigma=None, absolute_sigma=False, check_finite=True,
              bounds=(-np.inf, np.inf), method=None, jac=None, *, full_output=False, nan_policy=None,
              **kwargs):
    """Use non-linear least squares to fit a function, f, to data; scipy.optimize.curve_fit's call.

    Assumes ``ydata = f(xdata, *params) + eps``.

    Parameters
    ----------
    f : callable or str
        The model function ``f(x, *params)`` as in scipy (vectorised over x; called on blocks of
        rows so that memory stays bounded), or a built-in model name (``"gaussian"``, see
        curvefit.models()) or a formula (``"a*exp(-b*x)+c"``), which the native engine evaluates
        with exact derivatives and many threads.
    xdata : array_like, shape (m,) or (k, m)
        The independent variable(s).
    ydata : array_like, shape (m,)
        The dependent data.
    p0 : array_like, optional
        Initial guess, one value per parameter (in the order of f's arguments, or of the formula's
        parameters). Default: 1 for every parameter, except for a built-in model name, which
        guesses from the data.
    sigma : array_like, shape (m,), optional
        Uncertainties of ydata: residuals are weighted by 1/sigma. (A 2-D covariance is not
        supported.)
    absolute_sigma : bool
        If True, sigma are absolute and pcov is not scaled by the reduced chi-square.
    check_finite : bool
        Accepted for compatibility: non-finite data always raise ValueError (curvefit.DataError).
    bounds : 2-tuple of array_like
        Lower and upper bounds, scalars or one per parameter.
    method : {"lm", "trf", "dogbox"}, optional
        Default "lm" without bounds, "trf" with them (as scipy).
    jac : callable, optional
        ``jac(x, *params)`` returning the (m, n) Jacobian, for a Python f. Without it the Jacobian
        of a Python f is taken by forward differences (scipy's '2-point' steps); names and formulas
        always use exact derivatives.
    full_output : bool
        Also return infodict, mesg and ier.
    **kwargs
        ftol, xtol, gtol, max_nfev (or maxfev), loss, f_scale, x_scale as in
        scipy.optimize.least_squares; and curvefit's memory_limit, mode, chunk_size, threads, and
        x_range=(lo, hi): fit only the points with lo <= x <= hi (None for an open side; for
        several predictors, {"x2": (lo, hi)} names one).

    Returns
    -------
    popt : ndarray
        Optimal values of the parameters.
    pcov : ndarray
        Their estimated covariance (inf where a parameter is undetermined).
    infodict : dict (with full_output)
        nfev, fvec (the weighted residuals at popt), jacobian ("exact", "given" or "forward
        differences") and curvefit's FitResult under "result".
    mesg : str (with full_output)
    ier : int (with full_output)
        1 to 4 when a solution was found (gtol, ftol, xtol, ftol and xtol).

    Raises
    ------
    RuntimeError
        If the fit did not converge (maximum evaluations reached or failure).
    ValueError
        Bad arguments, non-finite data (curvefit.DataError), a bad model (curvefit.ModelError).

    Examples
    --------
    >>> import numpy as np, curvefit
    >>> x = np.linspace(0, 4, 50)
    >>> y = 2.5 * np.exp(-1.3 * x) + 0.5
    >>> popt, pcov = curvefit.curve_fit(lambda x, a, b, c: a * np.exp(-b * x) + c, x, y)
    >>> np.round(popt, 6)
    array([2.5, 1.3, 0.5])
    >>> popt, pcov = curvefit.curve_fit("a*exp(-b*x)+c", x, y)
    """
    del check_finite
    if nan_policy not in (None, "raise"):
        raise ValueError("nan_policy: only 'raise' (omit missing points before the call)")
    x_range = _x_range(kwargs.pop("x_range", None))
    # f receives float64 blocks, as with scipy; a selection copies its rows out of float64 arrays
    contiguous = callable(f) and not isinstance(f, str) or x_range is not None
    x_arrays = predictor_columns(xdata, contiguous)
    y = as_column(ydata, "ydata", contiguous)
    options = {"x_arrays": x_arrays, "y_array": y, "natural_bounds": False,
               "absolute_sigma": bool(absolute_sigma), "x_range": x_range}
    if sigma is not None:
        s = np.asarray(sigma)
        if s.ndim != 1:
            raise ValueError("sigma: a 1-D array of uncertainties (a 2-D covariance is not supported)")
        options["sigma_array"] = as_column(s, "sigma", contiguous)
    count = None if p0 is None else np.size(p0)
    if isinstance(f, str):
        if jac is not None:
            raise ValueError("jac: only for a Python f (names and formulas have exact derivatives)")
        info = _curvefit.model_info(f)
        names, derivatives = info["params"], "exact"
        options["model"] = f
    elif callable(f):
        names = function_parameters(f, count)
        derivatives = "forward differences" if jac is None else "given"
        options.update(model=f"python:{getattr(f, '__name__', 'function')}", function=f, jac=jac,
                       param_names=names, num_predictors=len(x_arrays))
    else:
        raise TypeError("f: a function f(x, *params), a built-in model name or a formula")
    if p0 is not None:
        p0 = np.atleast_1d(np.asarray(p0, dtype=float))
        if p0.size != len(names):
            raise ValueError(f"p0 has {p0.size} values; the model has {len(names)} parameters ({', '.join(names)})")
        options["p0"] = list(zip(names, map(float, p0)))
    options["bounds"] = _bounds(bounds, names)
    options["method"] = method or ("trf" if options["bounds"] else "lm")
    options.update(_settings(dict(kwargs)))
    options["x_scale"] = per_parameter_scale(options.get("x_scale"), names)
    result = run(options)
    if result.status not in ("converged",):
        raise RuntimeError(f"Optimal parameters not found: {result.message}")
    popt = np.array([result.params[n] for n in names])
    pcov = result.covariance.copy()
    if not full_output:
        return popt, pcov
    fvec = result.eval(xdata if len(x_arrays) == 1 else np.vstack(x_arrays)) - y
    if sigma is not None:
        fvec /= options["sigma_array"]
    if x_range is not None:  # the residuals of the rows fitted
        k = int(x_range[0][1:]) - 1 if x_range[0][1:].isdigit() else 0
        fvec = fvec[(x_arrays[k] >= x_range[1]) & (x_arrays[k] <= x_range[2])]
    infodict = {"nfev": result.nfev, "fvec": fvec, "jacobian": derivatives, "result": result}
    return popt, pcov, infodict, result.message, result._native.status_code
