"""Checks mutants against chosen tests, all in one Python process.

    python tools/mutmut_check.py MUTANTS_DIR NAMES_FILE [PYTEST_ARGS ...]

MUTANTS_DIR is the `mutants/` folder of a `tools/mutation.sh` clone,
NAMES_FILE lists mutant names (one per line, as `mutmut results` prints
them) and PYTEST_ARGS select the tests, relative to MUTANTS_DIR (copy a new
test file into MUTANTS_DIR/tests first). Prints `NAME killed` or `NAME
survives` (or `NAME timeout`, counted as killed, when a mutant's run takes
longer than MUTANT_TIMEOUT seconds, 600 by default) per mutant on standard
error (pytest's own output goes to standard output). mutmut's trampolines
read MUTANT_UNDER_TEST on each call, so one process runs every mutant and
imports TensorFlow once: seconds per mutant instead of a fresh process each. The tests must first pass with no
mutant active.
"""

import os
import runpy
import signal
import sys


def main(mutants_dir, names_file, pytest_args):
    mutants_dir = os.path.abspath(mutants_dir)
    names = [line.strip() for line in open(names_file) if line.strip()]
    os.chdir(mutants_dir)
    sys.path.insert(0, mutants_dir)  # the mutated package, not an installed one
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import pytest

    # The shim that tests/conftest.py gets in the clone, applied before the
    # package is imported here (conftest would come too late for wrapper.py).
    shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mutmut_conftest_shim.py")
    runpy.run_path(shim)
    import keras_ltp

    if not os.path.abspath(keras_ltp.__file__).startswith(mutants_dir):
        raise SystemExit(f"keras_ltp imports from {keras_ltp.__file__}, not from {mutants_dir}")
    args = ["-x", "-q", "-p", "no:cacheprovider", "-n", "0", "--no-header", *pytest_args]
    os.environ["MUTANT_UNDER_TEST"] = ""
    if pytest.main(args) != 0:
        raise SystemExit("the selected tests fail with no mutant active: fix the selection first")
    limit = int(os.environ.get("MUTANT_TIMEOUT", "600"))
    timed_out = []

    def stop(signum, frame):  # a mutant that loops: fail the running test, as mutmut's timeout would
        timed_out.append(True)
        raise TimeoutError(f"mutant ran over MUTANT_TIMEOUT={limit} s")

    signal.signal(signal.SIGALRM, stop)
    for name in names:
        os.environ["MUTANT_UNDER_TEST"] = name
        timed_out.clear()
        signal.alarm(limit)
        passed = pytest.main(args) == 0
        signal.alarm(0)
        verdict = "timeout" if timed_out else "survives" if passed else "killed"
        print(name, verdict, file=sys.stderr, flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
