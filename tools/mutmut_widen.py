"""Widens mutmut's map from functions to the tests that exercise them, so a
mutant runs every test of each test file that calls its function.

mutmut 3 runs, per mutant, only the tests during which the function was
called. A module-scoped fixture calls it while the first test that uses the
fixture sets it up, so the later tests of that module, which check what the
fixture's run produced, are not selected, and their mutants survive without
having met them (seen with tests/test_trail.py: the warning test never ran).

    python tools/mutmut_widen.py mutants/mutmut-stats.json   # then: mutmut run <survivors>
"""

import json
import sys


def widen(stats):
    by_file = {}
    for test in stats["duration_by_test"]:
        by_file.setdefault(test.split("::")[0], []).append(test)
    mapping = stats["tests_by_mangled_function_name"]
    for name, tests in mapping.items():
        files = {test.split("::")[0] for test in tests}
        mapping[name] = sorted({test for f in files for test in by_file.get(f, [])} | set(tests))
    return stats


def survivors(root):
    """The names of the surviving mutants, from mutmut's `.meta` files under `root`."""
    import glob

    names = []
    for path in glob.glob(f"{root}/**/*.meta", recursive=True):
        with open(path) as f:
            names += [name for name, code in json.load(f).get("exit_code_by_key", {}).items() if code == 0]
    return sorted(names)


if __name__ == "__main__":
    path = sys.argv[1]
    with open(path) as f:
        stats = widen(json.load(f))
    with open(path, "w") as f:
        json.dump(stats, f, indent=4)
    print("\n".join(survivors("mutants/keras_ltp")))
