"""curvefit.fit and the subcommand mirrors: the same fit as the command line (to_dict() equals its
--json, str() its report), every kind of data input, eval/plot, and the errors users meet."""
import json
import os
import subprocess
import time

import numpy as np
import pytest

import curvefit
from conftest import exp_decay, gaussian

# Wall times, this process's own memory, and the plan's reasons (their figures include the
# process's RSS before the fit), compared apart.
VOLATILE = ("time_s", "timing", "memory", "notes")


@pytest.fixture
def peak_csv(tmp_path, rng):
    t = np.linspace(-5, 5, 5000)
    s = 0.02 + 0.03 * rng.random(t.size)
    y = gaussian(t, 2.0, 0.3, 1.2) + s * rng.standard_normal(t.size)
    path = tmp_path / "peak.csv"
    np.savetxt(path, np.column_stack([t, y, s]), delimiter=",", header="t,signal,err", comments="", fmt="%.17g")
    return path, t, y, s


def cli_json(cli, *args):
    run = subprocess.run([cli, "fit", *map(str, args), "--json", "--no-progress"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def without(d, keys):
    return {k: v for k, v in d.items() if k not in keys}


@pytest.mark.parametrize("model, extra", [("gaussian", {}), ("a*exp(-((t - mu)^2)/(2*w^2))", {"p0": {"a": 1, "mu": 0, "w": 1}})])
def test_to_dict_equals_cli_json(cli, peak_csv, model, extra):
    path = peak_csv[0]
    ours = curvefit.fit(path, model, x="t", y="signal", sigma="err", memory_limit="1GB", **extra).to_dict()
    p0 = ["--p0", ",".join(f"{k}={v}" for k, v in extra["p0"].items())] if extra else []
    theirs = cli_json(cli, path, "--model", model, "--x", "t", "--y", "signal", "--sigma", "err",
                      "--memory-limit", "1GB", *p0)
    assert without(ours, VOLATILE) == without(theirs, VOLATILE)
    assert ours["notes"][:2] == theirs["notes"][:2] and len(ours["notes"]) == len(theirs["notes"])
    assert ours["status"] == "converged"
    assert ours["params"][1]["value"] == pytest.approx(0.3, abs=0.01)


def test_report_is_the_cli_report(cli, peak_csv):
    path = peak_csv[0]
    result = curvefit.fit(path, "gaussian", x="t", y="signal", memory_limit="1GB")
    run = subprocess.run([cli, "fit", str(path), "--model", "gaussian", "--x", "t", "--y", "signal",
                          "--memory-limit", "1GB", "--no-progress"], capture_output=True, text=True)
    ours = [l for l in str(result).splitlines() if "wall time" not in l and "memory  " not in l]
    theirs = [l for l in run.stdout.splitlines() if "wall time" not in l and "memory  " not in l]
    assert ours == theirs
    assert "[[Variables]]" in str(result)


def test_inputs_agree(peak_csv):
    """A path, a dict, a DataFrame and a tuple of the same numbers give the same parameters."""
    pd = pytest.importorskip("pandas")
    path, t, y, s = peak_csv
    results = [
        curvefit.fit(path, "gaussian", x="t", y="signal", sigma="err"),
        curvefit.fit({"t": t, "signal": y, "err": s}, "gaussian", x="t", y="signal", sigma="err"),
        curvefit.fit(pd.DataFrame({"t": t, "signal": y, "err": s}), "gaussian", x="t", y="signal", sigma="err"),
        curvefit.fit((t, y, s), "gaussian"),
    ]
    for r in results[1:]:
        for name in ("a", "mu", "sigma"):
            assert r.params[name] == pytest.approx(results[0].params[name], rel=1e-10)
            assert r.stderr[name] == pytest.approx(results[0].stderr[name], rel=1e-8)


def test_result_fields(peak_csv):
    _, t, y, s = peak_csv
    r = curvefit.fit({"t": t, "y": y, "sigma": s}, "a*exp(-((t - mu)^2)/(2*w^2))", x="t",
                     p0={"a": 1, "mu": 0, "w": 1})
    assert r.success and r.status == "converged" and r.mode == "memory"
    assert list(r.params) == ["a", "mu", "w"]
    assert r.covariance.shape == (3, 3) and np.allclose(np.diag(r.correlation), 1)
    assert np.sqrt(r.covariance[1, 1]) == pytest.approx(r.stderr["mu"])
    lo, hi = r.ci95["mu"]
    assert lo < r.params["mu"] < hi
    assert r.chi2 == pytest.approx(np.sum(((gaussian(t, *r.params.values()) - y) / s) ** 2), rel=1e-9)
    assert r.reduced_chi2 == pytest.approx(r.chi2 / (t.size - 3))
    np.testing.assert_allclose(r.eval(t[:10]), gaussian(t[:10], *r.params.values()), rtol=1e-12)
    assert "<table>" in r._repr_html_() and "mu" in r._repr_html_()
    assert r.passes >= 1 and r.memory["peak_rss_bytes"] > 0


def test_fix_and_bounds_by_name(peak_csv):
    _, t, y, _ = peak_csv
    r = curvefit.fit((t, y), "gaussian", fix={"mu": 0.25}, bounds={"a": (0, 1.9)})
    assert r.params["mu"] == 0.25 and r.stderr["mu"] == 0
    assert r.params["a"] == pytest.approx(1.9)


def test_plot(peak_csv):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    _, t, y, _ = peak_csv
    result = curvefit.fit((t, y), "gaussian")
    ax, ax_res = result.plot(band_level=0.9)
    assert len(ax.lines) == 2 and len(ax_res.lines) >= 1
    # The shaded band is the fit -+ eval_uncertainty at the level asked for.
    (band,) = ax.collections
    edges = band.get_paths()[0].vertices
    grid = np.linspace(np.min(t), np.max(t), 1000)
    half_width = result.eval_uncertainty(grid, 0.9)
    assert np.all(half_width > 0)
    n = len(grid)  # matplotlib's polygon: a start vertex, the lower edge, an end vertex, the upper edge back
    lower, upper = edges[1:n + 1], edges[n + 2:2 * n + 2][::-1]
    for edge, sign in ((lower, -1), (upper, 1)):
        np.testing.assert_allclose(edge[:, 0], grid, rtol=1e-12)
        np.testing.assert_allclose(edge[:, 1], result.eval(grid) + sign * half_width, rtol=1e-12, atol=1e-15)
    assert "90% confidence band" in [text.get_text() for text in ax.get_legend().get_texts()]
    assert not result.plot(band_level=None)[0].collections


def test_models_memory_plan_generate(tmp_path):
    names = [m["name"] for m in curvefit.models()]
    assert "gaussian" in names and "exponential" in names
    assert curvefit.memory()["total_bytes"] > 0
    path = tmp_path / "g.csv"
    curvefit.generate(path, "linear", 1000, params={"a": 2, "b": -1})
    x, y = np.loadtxt(path, delimiter=",", skiprows=2, unpack=True)
    np.testing.assert_allclose(y, 2 * x - 1, rtol=1e-12, atol=1e-12)
    p = curvefit.plan(path, "linear", memory_limit="1GB")
    assert p["rows"] == 1000 and p["mode"] in ("memory", "chunked", "stream")
    assert p["memory_limit_bytes"] == 10 ** 9


@pytest.mark.parametrize("call, error, text", [
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, np.nan, 3]), "linear"), curvefit.DataError, "row 2"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3], [1.0, 0, 1]), "linear"), curvefit.DataError, "sigma"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2]), "linear"), ValueError, "different lengths"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "nosuchmodel"), curvefit.ModelError, "nosuchmodel"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "a*x+"), curvefit.ModelError, ""),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "linear", p0={"zz": 1}), ValueError, "zz"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "linear", method="newton"), ValueError, "newton"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "linear", loss="l7"), ValueError, "loss"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "linear", memory_limit="lots"), ValueError, "memory_limit"),
    (lambda: curvefit.fit("/nonexistent/file.csv", "linear"), curvefit.DataError, "/nonexistent/file.csv"),
    (lambda: curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "linear", memory_limit=1000), curvefit.MemoryError, "memory"),
    (lambda: curvefit.fit(42, "linear"), TypeError, "data"),
    (lambda: curvefit.curve_fit("linear", [1.0, 2], [1.0, 2], p0=[1, 2, 3]), ValueError, "p0"),
    (lambda: curvefit.curve_fit("linear", [1.0, 2, 3], [1.0, 2, 3], bogus=1), TypeError, "bogus"),
])
def test_bad_inputs_raise(call, error, text):
    with pytest.raises(error, match=text.replace("*", r"\*").replace("+", r"\+")):
        call()


def test_exception_classes():
    assert issubclass(curvefit.DataError, ValueError) and issubclass(curvefit.ModelError, ValueError)
    assert issubclass(curvefit.MemoryError, MemoryError)


def test_python_function_errors_propagate():
    def broken(x, a):
        raise ZeroDivisionError("inside the model")
    with pytest.raises(ZeroDivisionError, match="inside the model"):
        curvefit.curve_fit(broken, np.arange(10.0), np.arange(10.0))

    def wrong_length(x, a):
        return np.ones(3)
    with pytest.raises(curvefit.ModelError, match="returned 3 values"):
        curvefit.curve_fit(wrong_length, np.arange(10.0), np.arange(10.0))


def test_help_reads_like_scipy():
    for function in (curvefit.fit, curvefit.curve_fit):
        doc = function.__doc__
        assert "Parameters\n    ----------" in doc and "Returns\n    -------" in doc and "Examples" in doc


def test_wrong_option_types_raise_type_error():
    with pytest.raises(TypeError, match="max_nfev"):
        curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "linear", max_nfev="many")
    with pytest.raises(TypeError, match="threads"):
        curvefit.fit(([1.0, 2, 3], [1.0, 2, 3]), "linear", threads=[1])


def test_csv_columns_by_index_and_options(tmp_path):
    path = tmp_path / "semi.csv"
    x = np.arange(1.0, 51.0)
    np.savetxt(path, np.column_stack([x * 0, x, 2 * x + 1]), delimiter=";", fmt="%.17g")
    r = curvefit.fit(path, "linear", x=2, y=3, delimiter=";", header=False)
    assert r.params == pytest.approx({"a": 2.0, "b": 1.0})
    assert r.n_points == 50


def test_dataframe_with_numbered_columns_and_missing_column():
    pd = pytest.importorskip("pandas")
    x = np.linspace(0, 1, 40)
    frame = pd.DataFrame({0: x, 1: 3 * x - 2})
    assert curvefit.fit(frame, "linear", x=0, y=1).params == pytest.approx({"a": 3.0, "b": -2.0})
    with pytest.raises(ValueError, match="no column 'q'"):
        curvefit.fit(frame, "linear", x="q", y=1)


def test_docstring_examples_run():
    import doctest
    from curvefit import _api, _scipy
    for module in (_api, _scipy):
        outcome = doctest.testmod(module, extraglobs={"curvefit": curvefit})
        assert outcome.attempted > 0 and outcome.failed == 0, module.__name__


def test_rows_the_reader_omits_are_in_the_notes(tmp_path):
    # Known truth y = 2 x + 1; one row has a missing y, which nan_policy="omit" drops and says so.
    path = tmp_path / "gaps.csv"
    rows = ["x,y"] + [f"{x},{2 * x + 1}" for x in range(20)]
    rows[6] = "5,NA"
    path.write_text("\n".join(rows) + "\n")
    r = curvefit.fit(path, "linear", nan_policy="omit")
    assert r.params["a"] == pytest.approx(2.0, rel=1e-12) and r.params["b"] == pytest.approx(1.0, rel=1e-12)
    assert any("omitted 1 row" in note and "line 7" in note for note in r.to_dict()["notes"]), r.to_dict()["notes"]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint16, np.int64])
def test_other_dtypes_and_strides_give_the_fit_of_their_float64_values(rng, dtype):
    """Arrays that are not contiguous float64 are converted chunk by chunk (stream mode); the fit
    equals, bit for bit, the fit of the same values as float64 with the same chunk size."""
    t = np.arange(40_000) * 0.001
    counts = np.round(1000 * exp_decay(t, 2.5, 1.3, 0.5) + 10 * rng.standard_normal(t.size))
    table = np.empty((t.size, 3), dtype=dtype)  # (m, 3): each column is a strided view
    table[:, 0] = np.arange(t.size)
    table[:, 1] = counts
    table[:, 2] = 7 + np.arange(t.size) % 5
    x, y, s = table[:, 0], table[:, 1], table[:, 2]
    p0 = {"a": 2000, "b": 0.001, "c": 400}
    r = curvefit.fit((x, y, s), "exponential", p0=p0, chunk_size=4096)
    assert r.mode == "stream"
    assert any("converted chunk by chunk" in n for n in r.to_dict()["notes"])
    as64 = [np.ascontiguousarray(c, dtype=np.float64) for c in (x, y, s)]
    ref = curvefit.fit(tuple(as64), "exponential", p0=p0, chunk_size=4096, mode="chunked")
    assert r.params == ref.params
    assert np.array_equal(r.covariance, ref.covariance)
    assert r.params["b"] == pytest.approx(0.0013, rel=0.02)  # 1.3 per unit of t, t = 0.001 * row


def test_converted_arrays_in_a_dataframe_and_with_a_python_function(rng):
    pd = pytest.importorskip("pandas")
    x = np.linspace(0, 4, 3000)
    y = exp_decay(x, 2.5, 1.3, 0.5) + 0.01 * rng.standard_normal(x.size)
    frame = pd.DataFrame({"x": x.astype(np.float32), "y": y.astype(np.float32)})
    r = curvefit.fit(frame, "exponential")
    assert r.mode == "stream"
    assert r.params == pytest.approx({"a": 2.5, "b": 1.3, "c": 0.5}, rel=1e-2)
    popt, _ = curvefit.curve_fit(exp_decay, x.astype(np.float32), y.astype(np.float32), p0=[1, 1, 0])
    assert popt == pytest.approx([2.5, 1.3, 0.5], rel=1e-2)


def test_converted_arrays_check_values_and_modes():
    x = np.arange(10, dtype=np.float32)
    y = (2 * x + 1).astype(np.float32)
    y[7] = np.nan
    with pytest.raises(curvefit.DataError, match="row 8: x or y is not finite"):
        curvefit.fit((x, y), "linear")
    y[7] = 15
    with pytest.raises(curvefit.DataError, match="row 3: sigma must be positive"):
        curvefit.fit((x, y, np.array([1, 1, 0, 1, 1, 1, 1, 1, 1, 1], dtype=np.int8)), "linear")
    with pytest.raises(ValueError, match="would copy the arrays"):
        curvefit.fit((x, y), "linear", mode="memory")


def test_temp_dir_holds_the_spill_of_a_streamed_csv(peak_csv, tmp_path):
    path = peak_csv[0]
    missing = tmp_path / "missing"
    with pytest.raises(OSError, match="cannot create a spill file in " + str(missing)):
        curvefit.fit(str(path), "gaussian", x="t", y="signal", sigma="err", mode="stream", temp_dir=missing)
    spill = tmp_path / "spill"
    spill.mkdir()
    streamed = curvefit.fit(str(path), "gaussian", x="t", y="signal", sigma="err", mode="stream", temp_dir=spill)
    in_memory = curvefit.fit(str(path), "gaussian", x="t", y="signal", sigma="err")
    assert streamed.params == pytest.approx(in_memory.params, rel=1e-10)
    assert list(spill.iterdir()) == []



def test_checkpoint_and_resume(cli, tmp_path):
    """A command-line fit killed (SIGKILL) after the checkpoint of iteration 2, resumed from Python,
    gives the uninterrupted fit's bits; another method is refused by name."""
    path = str(tmp_path / "g.h5")
    curvefit.generate(path, "gaussian", 20000, noise=0.05)
    start = {"a": 0.5, "mu": 3, "sigma": 2}
    whole = curvefit.fit(path, "gaussian", p0=start)
    ckpt = tmp_path / "fit.ckpt"
    env = dict(os.environ, CURVEFIT_TEST_HOLD_AT_CHECKPOINT="full:2")
    killed = subprocess.Popen([cli, "fit", path, "--model", "gaussian", "--p0", "a=0.5,mu=3,sigma=2", "-q",
                               "--checkpoint", str(ckpt)], env=env, stdout=subprocess.DEVNULL)
    while not (ckpt.exists() and json.loads(ckpt.read_text())["solver"]["iteration"] >= 2):
        assert killed.poll() is None, "the fit ended before it was killed"
        time.sleep(0.005)  # a polling interval, not a timing assumption
    killed.kill()
    assert killed.wait() == -9
    resumed = curvefit.fit(path, "gaussian", p0=start, resume=ckpt)
    assert resumed.to_dict()["params"] == whole.to_dict()["params"]
    assert np.array_equal(resumed.covariance, whole.covariance)
    assert resumed.to_dict()["iterations"] == whole.to_dict()["iterations"]
    with pytest.raises(ValueError, match="method is trf there, dogbox here"):
        curvefit.fit(path, "gaussian", p0=start, method="dogbox", resume=ckpt)


def test_no_input_file_is_mapped(tmp_path):
    """A file cut short under a mapping raises SIGBUS, which would kill the interpreter: from Python
    the engine reads files instead of mapping them (HDF5 used in place, CSV loads, streamed windows)."""
    import threading
    paths = [tmp_path / "big.h5", tmp_path / "big.csv"]
    for path in paths:
        curvefit.generate(path, "exponential", 400_000, params={"a": 5, "b": 0.5, "c": 1}, noise=0.05)
    for path, mode in [(paths[0], "memory"), (paths[0], "stream"), (paths[1], "memory")]:
        seen, done = [], threading.Event()

        def watch():
            while not done.is_set():
                with open("/proc/self/maps") as maps:
                    if str(path) in maps.read():
                        seen.append(True)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            for _ in range(3):
                result = curvefit.fit(path, "exponential", mode=mode, chunk_size=4096)
        finally:
            done.set()
            watcher.join()
        assert result.success and result.params["b"] == pytest.approx(0.5, rel=1e-2)
        assert not seen, f"{path.name} was mapped during a {mode} fit"
