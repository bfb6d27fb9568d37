"""ctest's entry to the Python tests: SKIP (exit 77, with the reason) when numpy, scipy or pytest
are missing; FAIL when pytest collects no test (its exit 5), so that a broken layout cannot pass."""
import importlib.util
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

missing = [m for m in ("numpy", "scipy", "pytest") if importlib.util.find_spec(m) is None]
if missing:
    print(f"SKIP: {sys.executable} lacks {', '.join(missing)} (Debian: python3-numpy python3-scipy python3-pytest)")
    sys.exit(77)

import pytest  # noqa: E402

code = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]])
if code == pytest.ExitCode.NO_TESTS_COLLECTED:
    print("FAIL: pytest collected no tests")
    sys.exit(1)
sys.exit(int(code))
