"""curvefit.fit, plan, models, memory and generate: the subcommands of the command line."""
import inspect
import math
import os

import numpy as np

from . import _curvefit
from ._data import data_options
from ._result import FitResult


def _named(values, names, what):
    """A dict name -> value, or a sequence in parameter order -> [(name, value)]."""
    if values is None:
        return []
    if isinstance(values, dict):
        return [(str(k), float(v)) for k, v in values.items()]
    values = list(values)
    if names is None or len(values) != len(names):
        raise ValueError(f"{what}: give a dict name -> value, or one value per parameter "
                         f"({', '.join(names or [])})")
    return [(n, float(v)) for n, v in zip(names, values)]


def _bounds(bounds):
    """{name: (low, high)} -> [(name, low, high)]."""
    if bounds is None:
        return []
    if not isinstance(bounds, dict):
        raise ValueError("bounds: a dict name -> (low, high), e.g. {'b': (0, inf)}")
    out = []
    for name, (low, high) in bounds.items():
        low = -math.inf if low is None else float(low)
        high = math.inf if high is None else float(high)
        if not low < high:
            raise ValueError(f"bounds: {name}: low must be below high")
        out.append((str(name), low, high))
    return out


def _model_options(model, jac, x_names, num_predictors):
    """A model name/formula, or a Python function f(x, *params) (scipy's convention)."""
    if isinstance(model, str):
        if jac is not None:
            raise ValueError("jac: only for a Python function model (names and formulas have exact derivatives)")
        return {"model": model}, _curvefit.model_info(model, x_names or [])["params"]
    if not callable(model):
        raise TypeError("model: a built-in model name, a formula string, or a function f(x, *params)")
    names = function_parameters(model)
    name = getattr(model, "__name__", "function")
    return ({"model": f"python:{name}", "function": model, "jac": jac, "param_names": names,
             "num_predictors": num_predictors}, names)


def function_parameters(function, count=None):
    """The parameter names of f(x, p1, p2, ...): its signature after x, or p0..p{count-1} for *args."""
    parameters = list(inspect.signature(function).parameters.values())[1:]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters) or count is not None and len(parameters) != count:
        if count is None:
            raise ValueError("the model function takes *args: give p0 so that the number of parameters is known")
        return [f"p{j}" for j in range(count)]
    if not parameters:
        raise ValueError("the model function takes no parameters after x")
    return [p.name for p in parameters]


def _x_range(x_range):
    """(lo, hi) or {name: (lo, hi)}, None for an open side -> (name, lo, hi) ("" for the first predictor)."""
    if x_range is None:
        return None
    name = ""
    if isinstance(x_range, dict):
        if len(x_range) != 1:
            raise ValueError("x_range: (lo, hi), or {predictor: (lo, hi)} for one predictor")
        (name, x_range), = x_range.items()
    try:
        lo, hi = x_range
    except (TypeError, ValueError):
        raise ValueError("x_range: (lo, hi), with None for an open side") from None
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if not lo <= hi:
        raise ValueError("x_range: lo must not exceed hi")
    return (str(name), lo, hi)


def _options(data, model, jac, x, y, sigma, p0, fix, bounds, settings):
    selecting = settings.get("x_range") is not None or bool(settings.get("where"))
    options = data_options(data, x, y, sigma, selecting, settings.get("where"))
    num_predictors = len(options.get("x_arrays") or options.get("x") or [None])
    model_options, names = _model_options(model, jac, options.get("x"), num_predictors)
    if callable(model) and ("path" in options or "paths" in options):
        raise ValueError("a Python function model needs the data as arrays (a file is read by the native engine)")
    if callable(model):  # f receives contiguous float64 blocks of the arrays, as with scipy
        for key in ("y_array", "sigma_array"):
            if options.get(key) is not None:
                options[key] = np.ascontiguousarray(options[key], dtype=np.float64)
        options["x_arrays"] = [np.ascontiguousarray(a, dtype=np.float64) for a in options["x_arrays"]]
    options.update(model_options)
    options["p0"] = _named(p0, names, "p0")
    options["fix"] = _named(fix, names, "fix")
    options["bounds"] = _bounds(bounds)
    options.update({k: v for k, v in settings.items() if v is not None})
    options["x_scale"] = per_parameter_scale(options.get("x_scale"), names)
    return options


def per_parameter_scale(x_scale, names):
    """x_scale as least_squares takes it ('jac', a number, one per parameter) or a dict by name."""
    if x_scale is None or isinstance(x_scale, (str, dict)) or np.ndim(x_scale) == 0:
        return x_scale
    return dict(_named(np.asarray(x_scale, dtype=float).ravel(), names, "x_scale"))


def fit(data, model, *, x=None, y=None, sigma=None, weights=None, p0=None, bounds=None, fix=None, natural_bounds=True,
        method="trf", loss="linear", f_scale=1.0, ftol=None, xtol=None, gtol=None, max_nfev=None,
        x_scale=None, absolute_sigma=False, memory_limit=None, mode="auto", chunk_size=None, threads=None,
        delimiter=None, header=None, skip_invalid=False, nan_policy="raise", x_range=None, where=None, temp_dir=None,
        jac=None,
        tie=None, ties=None, cov="standard", ci=None, ci_levels=None, ci_rule="f-test", checkpoint=None,
        resume=None, starts=1, seed=1):
    """Fit a model to data, as ``curvefit fit`` does.

    Parameters
    ----------
    data : str, os.PathLike, list of them, dict, pandas.DataFrame or tuple
        A CSV/TSV or HDF5 file (read, or streamed under `memory_limit`, by the native engine); a
        list of files or glob patterns ("runs/*.h5"), fitted as one dataset with the rows of every
        file in the order of the sorted file names (every file with the same columns); a
        dict of arrays or a DataFrame (columns by name), or an ``(x, y)`` / ``(x, y, sigma)`` tuple
        with x of shape (m,) or (k, m). Contiguous float64 arrays are used in place, not copied;
        other real dtypes (float32, integers, bool) and strided views are converted chunk by
        chunk on every pass (the fit streams), never copied whole. A Python function model
        receives float64 blocks: its arrays are converted once, as scipy does.
    model : str or callable
        A built-in model name (``curvefit.models()``), a formula such as ``"a*exp(-b*x)+c"``, built-ins
        combined with formulas (``"gaussian[p1] + gaussian[p2] + linear"``: p1_a, p1_mu, ..., a, b), or a
        Python function ``f(x, *params)`` vectorised over x (called on blocks of rows; its
        Jacobian comes from `jac` or forward differences).
    x, y, sigma : str or list of str, optional
        Columns: CSV header names or 1-based indices, HDF5 dataset paths, dict keys. sigma gives
        weights 1/sigma.
    weights : str or array, optional
        Instead of `sigma`: weights w = 1/sigma^2 (a column, or with ``(x, y)`` data an array), as
        ``--weights``.
    p0, fix : dict or sequence, optional
        Starting values, and parameters held at a value (name -> value, or one per parameter).
        Without p0 a built-in model guesses from the data; a formula starts at 1.
    tie, ties : dict or list of str, optional
        Parameters given by expressions of the others (lmfit's ``expr``): ``tie={"p2_sigma": "p1_sigma"}``
        or ``ties=["p2_sigma = p1_sigma"]``. They are not free; their values and propagated standard
        errors appear in params and stderr (after the free ones), their expressions in ``tied``.
    bounds : dict, optional
        name -> (low, high), for trf and dogbox. They replace a built-in model's natural bounds,
        which apply unless ``natural_bounds=False``.
    method : {"trf", "lm", "dogbox"}
    loss : {"linear", "soft_l1", "huber", "cauchy", "arctan"}
    f_scale, ftol, xtol, gtol, max_nfev, x_scale
        As in scipy.optimize.least_squares (x_scale: "jac", a number or a dict name -> scale).
    absolute_sigma : bool
        sigma are true standard deviations: the covariance is not scaled by reduced chi-square.
    memory_limit : int or str, optional
        Cap on the peak memory of the process: bytes, or "512MB", "4GB", "1.5GiB".
    cov : {"standard", "robust", "hc0", "hc1"}
        "robust" (= "hc1") or "hc0": heteroscedasticity-consistent (sandwich) covariance, which
        trusts neither sigma's scale nor a constant variance.
    x_range : (lo, hi) or dict, optional
        Fit only the rows with lo <= x <= hi (``--x-range``; None for an open side); the first
        predictor, or ``{"x2": (lo, hi)}`` for another.
    where : str, optional
        Fit only the rows where a condition over the data's columns by name holds (``--where``),
        e.g. ``"temp > 300 && flag == 0"``: columns of the file, or of the dict/DataFrame (x, y,
        sigma and x1, x2, ... with ``(x, y)`` arrays). A row where the condition is NaN is left out;
        nan_policy judges only the selected rows. Arrays are then read as float64 and the selected
        rows copied; a file is read without a copy.
    ci : {None, "profile"}
        "profile": also profile-likelihood confidence intervals (``result.profile``), from refits
        with each parameter held, as lmfit's ``conf_interval``; in every mode.
    ci_levels : sequence of float, optional
        Their probabilities (default: 0.6827 and 0.9545, i.e. 1 and 2 sigma).
    ci_rule : {"f-test", "chi2"}
        The F-test of lmfit (default), or the plain chi-square rise.
    starts, seed : int
        As --starts and --seed: fit from `starts` starting points (p0, and a Latin hypercube within
        the bounds, or p0 * 10^[-1, 1] for a parameter without both bounds) in shared passes over
        the data; the lowest cost wins, ``result.starts`` lists the distinct minima.
    mode : {"auto", "memory", "chunked", "stream"}
    chunk_size, threads : int, optional
        Rows per chunk, worker threads (default: chosen by the planner, all cores).
    delimiter, header, skip_invalid, nan_policy
        CSV reading, as the command line's --delimiter, --header/--no-header, --skip-invalid,
        --nan-policy.
    temp_dir : str, optional
        Folder for the binary spill of a streamed CSV (default: $TMPDIR, else /tmp).
    checkpoint, resume : str or os.PathLike, optional
        As --checkpoint and --resume (data in a file only): rewrite this file with the solver's
        state after every accepted step; continue the fit a checkpoint holds, to the uninterrupted
        fit's bits (another problem raises ValueError naming the difference). docs/checkpoint.md.

    Returns
    -------
    FitResult
        params, stderr, covariance, correlation, ci95, chi2, reduced_chi2, r_squared, aic, bic,
        status, success, mode, passes, memory; str() is the report, to_dict() the JSON object.

    Raises
    ------
    ValueError, curvefit.DataError, curvefit.ModelError, curvefit.MemoryError, OSError
    KeyboardInterrupt
        On Ctrl-C, with the best point so far as ``.result``.

    Examples
    --------
    >>> import numpy as np, curvefit
    >>> t = np.linspace(0, 10, 1000)
    >>> r = curvefit.fit((t, 3 * np.exp(-0.5 * t) + 1), "a*exp(-b*x)+c")
    >>> round(r.params["b"], 6)
    0.5
    >>> r = curvefit.fit("data.h5", "gaussian", x="/t", y="/signal", memory_limit="64MB")  # doctest: +SKIP
    """
    if weights is not None:
        if sigma is not None:
            raise ValueError("sigma and weights: give one of them (w = 1/sigma^2)")
        sigma = weights
    settings = dict(sigma_is_weight=weights is not None or None, natural_bounds=natural_bounds, method=method, loss=loss, f_scale=f_scale, ftol=ftol,
                    xtol=xtol, gtol=gtol, max_nfev=max_nfev, x_scale=x_scale, absolute_sigma=absolute_sigma,
                    memory_limit=memory_limit, mode=mode, chunk_size=chunk_size, threads=threads,
                    delimiter=delimiter, header=header, skip_invalid=skip_invalid, nan_policy=nan_policy,
                    x_range=_x_range(x_range), where=where,
                    temp_dir=None if temp_dir is None else str(temp_dir), cov=cov, ci=ci,
                    ci_levels=None if ci_levels is None else [float(v) for v in ci_levels], ci_rule=ci_rule,
                    checkpoint=None if checkpoint is None else os.fspath(checkpoint),
                    resume=None if resume is None else os.fspath(resume), starts=starts, seed=seed)
    settings["ties"] = [f"{name} = {expression}" for name, expression in (tie or {}).items()] + list(ties or [])
    options = _options(data, model, jac, x, y, sigma, p0, fix, bounds, settings)
    return run(options)


def run(options):
    """Runs the native fit of an options dict; KeyboardInterrupt carries an interrupted result."""
    kept = None
    if "x_arrays" in options:
        kept = (options["x_arrays"][0], options["y_array"]) if len(options["x_arrays"]) == 1 else None
    result = FitResult(_curvefit.fit(options), kept)
    if result.status == "interrupted":
        error = KeyboardInterrupt("curvefit: fit interrupted; the best point so far is in .result")
        error.result = result
        raise error
    return result


def plan(data, model, *, x=None, y=None, sigma=None, fix=None, method="trf", memory_limit=None, mode="auto",
         chunk_size=None, threads=None, delimiter=None, header=None, nan_policy="raise", x_range=None, where=None):
    """The plan ``curvefit plan`` prints, as a dict: mode, chunk_rows, predicted_peak_bytes, the
    memory limit, whether a subsample fit comes first, each mode's prediction and the reasons.

    >>> curvefit.plan("big.h5", "gaussian", x="/x", y="/y", memory_limit="64MB")["mode"]  # doctest: +SKIP
    'stream'
    """
    settings = dict(method=method, memory_limit=memory_limit, mode=mode, chunk_size=chunk_size,
                    threads=threads, delimiter=delimiter, header=header, nan_policy=nan_policy,
                    x_range=_x_range(x_range), where=where)
    return _curvefit.plan(_options(data, model, None, x, y, sigma, None, fix, None, settings))


def models():
    """The built-in models, as ``curvefit models`` lists them: a list of dicts with name, formula,
    params, num_predictors, example, bounds, x_range and description."""
    return _curvefit.models()


def memory():
    """What memory this process may use (``curvefit memory``): total_bytes, available_bytes,
    limit_bytes, limit_source, process_rss_bytes, process_peak_bytes, notes."""
    return _curvefit.memory()


def generate(path, model, points, params=None, noise=0.0, seed=1, x_range=None):
    """Write synthetic data with known parameters (``curvefit generate``) to a .csv or .h5 file.

    points: a count (1000, 1e8 or "1e8"); params: dict name -> value (default: the built-in
    model's example); noise: standard deviation of Gaussian noise; x_range: (low, high).

    >>> curvefit.generate("big.h5", "gaussian", 1e7, noise=0.05)  # doctest: +SKIP
    """
    points = points if isinstance(points, str) else f"{int(points)}"
    text = ",".join(f"{k}={float(v)!r}" for k, v in (params or {}).items())
    _curvefit.generate(str(path), model, points, text, float(noise), int(seed),
                       None if x_range is None else (float(x_range[0]), float(x_range[1])))
