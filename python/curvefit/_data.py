"""Turning the data a user hands to curvefit.fit into what the native engine reads.

Arrays are passed to the engine in place: a C-contiguous float64 array is read directly; a numpy
array of another real dtype (float32, integers, bool) or with strides (a row of a 2-D array, a
column of a record array) is converted chunk by chunk on every pass by the native reader, never
copied whole. Anything else (lists, float16, big-endian data, ...) is converted to float64 once.
"""
import os
import re
import sys

import numpy as np

_NATIVE_ORDER = "<" if sys.byteorder == "little" else ">"
_READABLE = {("f", 4), ("f", 8), ("b", 1)} | {(k, s) for k in "iu" for s in (1, 2, 4, 8)}


def _readable_in_place(array):
    """Whether the native reader converts this array chunk by chunk (see array_source.h)."""
    dtype = array.dtype
    return (array.ndim == 1 and (dtype.kind, dtype.itemsize) in _READABLE
            and dtype.byteorder in ("=", "|", _NATIVE_ORDER))


def as_column(values, what, contiguous=False):
    """A 1-D array the engine reads: the caller's own array when it can be read in place, else a
    float64 copy. contiguous=True (a Python model function, which receives float64 blocks of the
    arrays as scipy's does) always gives contiguous float64."""
    array = values if isinstance(values, np.ndarray) else np.asarray(values)
    if contiguous or not _readable_in_place(array):
        array = np.ascontiguousarray(array, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D array, got shape {array.shape}")
    return array


def predictor_columns(x, contiguous=False):
    """x of shape (m,) or (k, m), as scipy's xdata -> a list of k 1-D arrays (rows of a 2-D array
    are views: read in place, whatever their strides)."""
    array = x if isinstance(x, np.ndarray) else np.asarray(x)
    if array.ndim == 1:
        return [as_column(array, "x", contiguous)]
    if array.ndim == 2:
        return [as_column(array[k], f"x[{k}]", contiguous) for k in range(array.shape[0])]
    raise ValueError(f"x: expected shape (m,) or (k, m), got {array.shape}")


def _names(value):
    """A column or a list of columns (names, or 1-based indices for a CSV) as a list of strings."""
    if value is None:
        return None
    return [str(value)] if isinstance(value, (str, int)) else [str(v) for v in value]


def _names_in(where):
    """The names a --where condition may use as columns (identifiers in its text)."""
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", where or ""))


def _from_table(table, columns, x, y, sigma, selecting=False, where=None):
    """A dict of arrays or a DataFrame: columns by name (default x or x1, x2...; y; sigma if present);
    with a `where` condition, the columns it names as contiguous float64 (where_arrays)."""
    keys = {str(c): c for c in columns}
    x_names = _names(x)
    if x_names is None:
        x_names = ["x"] if "x" in keys else [k for k in keys if k in ("x1", "x2")] or list(keys)[:1]
    y_name = "y" if y is None else str(y)
    sigma = "sigma" if sigma is None and "sigma" in keys else None if sigma is None else str(sigma)
    for name in x_names + [y_name] + ([sigma] if sigma else []):
        if name not in keys:
            raise ValueError(f"no column {name!r} in the data (columns: {', '.join(keys)})")
    return {
        "x_arrays": [as_column(table[keys[n]], f"x {n!r}", selecting) for n in x_names],
        "y_array": as_column(table[keys[y_name]], f"y {y_name!r}", selecting),
        "sigma_array": as_column(table[keys[sigma]], f"sigma {sigma!r}", selecting) if sigma else None,
        "names": x_names + [y_name] + ([sigma] if sigma else []),
        "x": x_names,
        "where_arrays": {n: as_column(table[keys[n]], n, True) for n in _names_in(where) if n in keys} or None,
    }


def data_options(data, x=None, y=None, sigma=None, selecting=False, where=None):
    """The options dict entries for `data` (path, list of paths, dict, DataFrame or (x, y[, sigma])
    tuple). selecting (x_range or where given): arrays are handed over as contiguous float64, since
    the engine copies the selected rows out of them."""
    columns = {"x": _names(x) or [], "y": "" if y is None else str(y), "sigma": "" if sigma is None else str(sigma)}
    if isinstance(data, (str, os.PathLike)):
        return {"path": os.fspath(data), **columns}
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, (str, os.PathLike)) for d in data):
        return {"paths": [os.fspath(d) for d in data], **columns}
    if isinstance(data, dict):
        return _from_table(data, list(data.keys()), x, y, sigma, selecting, where)
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        return _from_table(data, list(data.columns), x, y, sigma, selecting, where)
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        if x is not None or y is not None:
            raise ValueError("x= and y= name columns; with (x, y) arrays leave them out")
        xs = predictor_columns(data[0], selecting)
        s = data[2] if len(data) == 3 else sigma
        return {"x_arrays": xs, "y_array": as_column(data[1], "y", selecting),
                "sigma_array": None if s is None else as_column(s, "sigma", selecting)}
    raise TypeError("data: a path, a list of paths, a dict of arrays, a pandas DataFrame or an (x, y[, sigma]) tuple, "
                    f"not {type(data).__name__}")
