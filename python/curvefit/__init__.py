"""curvefit: nonlinear least-squares curve fitting, from a handful of points to billions.

The engine of the ``curvefit`` command line in Python::

    import curvefit
    result = curvefit.fit("data.csv", "gaussian", x="t", y="signal")
    print(result)                     # the report of `curvefit fit`; result.params, result.plot()

or as a drop-in for scipy.optimize.curve_fit::

    popt, pcov = curvefit.curve_fit("a*exp(-b*x)+c", xdata, ydata, p0=[1, 0.1, 0])

Errors raise ValueError (bad options), curvefit.DataError and curvefit.ModelError (both
ValueErrors), curvefit.MemoryError (a MemoryError: the memory limit cannot be met) or OSError, with
the command line's message. Ctrl-C stops a fit at its best point and raises KeyboardInterrupt with
that FitResult as its ``result`` attribute.
"""
from ._curvefit import DataError, ModelError, MemoryError, __version__
from ._api import fit, plan, models, memory, generate
from ._result import FitResult
from ._scipy import curve_fit

__all__ = ["fit", "curve_fit", "plan", "models", "memory", "generate", "FitResult",
           "DataError", "ModelError", "MemoryError", "__version__"]
