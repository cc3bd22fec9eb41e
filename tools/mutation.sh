#!/usr/bin/env bash
# Mutation testing with mutmut 3, one group of modules at a time, on a
# throw-away clone (the mutants never touch the working tree). Slow: re-run
# by hand when the modules of a group change; not part of CI. See docs/testing.md.
#
#   tools/mutation.sh GROUP [REPO]      GROUP: masks | core | walk | wrapper | report | callbacks | keep_zeros | export
#   MUTANTS='NAME_OR_GLOB ...' tools/mutation.sh GROUP    only those mutants
#
# Each group mutates some modules and runs only the test files that exercise
# them (mutmut then runs, per mutant, only the tests that called the mutated
# function, stopping at the first failure). Results: `mutmut results` and
# `mutmut show NAME` inside the printed directory.
set -euo pipefail

group=${1:?usage: tools/mutation.sh masks|core|walk|wrapper|report|callbacks|keep_zeros|rounding|export [REPO]}
repo=$(cd "${2:-$(dirname "$0")/..}" && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
mutmut=$(dirname "$python")/mutmut
base=${MUTATION_DIR:-/tmp/keras-ltp-mutation}

case $group in
  masks)
    modules='"keras_ltp/masks.py"'
    tests='"tests/test_masks.py", "tests/test_properties.py"' ;;
  core)
    modules='"keras_ltp/wrapper.py", "keras_ltp/walk.py", "keras_ltp/registry.py", "keras_ltp/pruning.py", "keras_ltp/stripping.py", "keras_ltp/sparsity_report.py", "keras_ltp/steering.py"'
    tests='"tests/test_wrapper.py", "tests/test_models.py", "tests/test_sparsity_report.py", "tests/test_walk.py", "tests/test_steering.py", "tests/test_properties.py"' ;;
  walk)  # the layer walker alone (a part of core, quick to re-run)
    modules='"keras_ltp/walk.py"'
    tests='"tests/test_walk.py", "tests/test_models.py", "tests/test_sparsity_report.py"' ;;
  callbacks)  # the 2026-12-06 run's selection and the files that killed its survivors outside it
    # (not test_resume.py: its fixture runs fresh Pythons; its in-process NaN tests killed 11 by hand)
    modules='"keras_ltp/callbacks/*.py"'
    tests='"tests/test_callbacks.py", "tests/test_trail.py", "tests/test_steering.py", "tests/test_steering_edges.py", "tests/test_sparsity_bounds.py", "tests/test_coupled.py", "tests/test_diagnostics.py", "tests/test_cost_measure.py", "tests/test_channels.py", "tests/test_plot.py"' ;;
  keep_zeros)  # KeepZeros (added 2026-12-07, after the callbacks run)
    modules='"keras_ltp/callbacks/keep_zeros.py"'
    tests='"tests/test_keep_zeros.py"' ;;
  rounding)  # round_channels (added 2026-12-07)
    modules='"keras_ltp/rounding.py"'
    tests='"tests/test_round_channels.py"' ;;
  wrapper)  # the wrapper alone, against the files that test it (quicker than core)
    modules='"keras_ltp/wrapper.py"'
    tests='"tests/test_wrapper.py", "tests/test_pruned_weight_guard.py", "tests/test_saving.py", "tests/test_mixed_precision.py", "tests/test_diagnostics.py", "tests/test_sparsity_bounds.py", "tests/test_shared_weights.py", "tests/test_channels.py", "tests/test_coupled.py", "tests/test_copying.py", "tests/test_recurrent_channels.py", "tests/test_attention_heads.py"' ;;
  report)  # counting: what is prunable and how much is pruned
    modules='"keras_ltp/registry.py", "keras_ltp/sparsity_report.py"'
    tests='"tests/test_registry.py", "tests/test_sparsity_report.py", "tests/test_sparsity_table.py", "tests/test_models.py"' ;;
  export)  # test_shrink.py exports channel-pruned models; the trained LeNet fixture is trained once and loaded by each mutant's process (tests/helpers.py)
    export KERAS_LTP_TEST_MODEL_CACHE=$base/$group-models
    rm -rf "$KERAS_LTP_TEST_MODEL_CACHE"
    modules='"keras_ltp/export.py"'
    tests='"tests/test_export.py", "tests/test_recurrent_export.py", "tests/test_export_text.py", "tests/test_shrink.py"' ;;
  *) echo "unknown group $group" >&2; exit 2 ;;
esac
# Any new test file named tests/test_mutants_*.py (or other files passed in
# EXTRA_TESTS, comma-separated and quoted) joins the selection.
for extra in "$repo"/tests/test_mutants_*.py; do
  [ -e "$extra" ] && tests="$tests, \"tests/$(basename "$extra")\""
done
[ -n "${EXTRA_TESTS:-}" ] && tests="$tests, $EXTRA_TESTS"

# Tests that start a fresh Python fail in the mutants directory whatever the
# mutant (that Python imports the trampolined package without mutmut's set-up),
# so they would count every mutant as killed: never select them.
deselect=$(cd "$repo" && grep -l "subprocess" tests/test_*.py | while read -r f; do
  "$python" - "$f" <<'PY'
import ast, sys
path = sys.argv[1]
tree = ast.parse(open(path).read())
for node in tree.body:
    if isinstance(node, ast.FunctionDef) and node.name.startswith("test") and "subprocess" in ast.unparse(node):
        print(f'"--deselect", "{path}::{node.name}",')
PY
done | tr '\n' ' ' | sed 's/, *$//')

work=$base/$group
rm -rf "$work"
git clone -q "$repo" "$work"
cd "$work"
git log -1 --format='mutating %h (%cd)' --date=short
cat >> pyproject.toml <<EOF

[tool.mutmut]
source_paths = ["keras_ltp/"]
only_mutate = [$modules]
# Error messages are not mutated (the lines of raise statements and warnings);
# the conditions that guard them are.
do_not_mutate_patterns = ["^\\\\s*raise ", "warnings\\\\.warn\\\\("]
pytest_add_cli_args = ["-n", "0", "-p", "no:cacheprovider", "-m", "not slow", $deselect]
pytest_add_cli_args_test_selection = [$tests]
# The default ("fork") forks mutmut's process after it ran TensorFlow; the fork
# server forks workers from a process that only imported and collected.
process_isolation = "forkserver"
EOF
cat "$repo/tools/mutmut_conftest_shim.py" >> tests/conftest.py
export TF_CPP_MIN_LOG_LEVEL=3
# MUTANTS (optional): space-separated mutant names or globs to run instead of
# all, e.g. MUTANTS='keras_ltp.export.x__weight_rows__mutmut_*'.
read -r -a only <<< "${MUTANTS:-}"
"$mutmut" run --max-children "${MAX_CHILDREN:-2}" "${only[@]}" | tr '\r' '\n' | tail -n 1
# Second pass: each survivor against every test of the files that call its
# function (tools/mutmut_widen.py says why).
mapfile -t survivors < <("$python" "$repo/tools/mutmut_widen.py" mutants/mutmut-stats.json)
if [ "${#survivors[@]}" -gt 0 ]; then
  echo "re-running ${#survivors[@]} survivors against whole test files"
  "$mutmut" run --max-children "${MAX_CHILDREN:-2}" "${survivors[@]}" | tr '\r' '\n' | tail -n 1
fi
"$mutmut" results
echo "results in $work (mutmut results / mutmut show NAME there)"
