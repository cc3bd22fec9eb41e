"""Every `>>>` example in keras_ltp's docstrings runs and prints what it shows.

The same as `pytest --doctest-modules keras_ltp`, but inside `tests/` so that
the JAX and PyTorch rest runs (test_backends.py, CI) run the examples too, with
the TensorFlow-only ones (export, tf.distribute) skipped there, saying why.
"""

import doctest
import importlib
import os
import pkgutil

import keras
import pytest

import keras_ltp

# Modules whose examples call TensorFlow itself (its converter, tf.distribute).
TENSORFLOW_ONLY = {"keras_ltp.export", "keras_ltp.distribute", "keras_ltp.native_output"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names():
    root = os.path.dirname(keras_ltp.__file__)
    return sorted(info.name for info in pkgutil.walk_packages([root], prefix="keras_ltp."))


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in _module_names():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            # A re-exported object is found again under each importing module.
            if test.examples and _defined_in(test, module):
                found.append((name, test))
    return found


def _defined_in(test, module):
    obj_name = test.name[len(module.__name__) + 1 :].split(".")[0]
    if not obj_name:
        return True
    obj = getattr(module, obj_name, None)
    return getattr(obj, "__module__", module.__name__) == module.__name__


EXAMPLES = _examples()


def test_the_examples_were_found():
    # A finder that silently found nothing would make the test below vacuous.
    modules = {module for module, _ in EXAMPLES}
    public = {
        "keras_ltp.masks",
        "keras_ltp.wrapper",
        "keras_ltp.pruning",
        "keras_ltp.stripping",
        "keras_ltp.sparsity_report",
        "keras_ltp.export",
        "keras_ltp.callbacks.sparsity_target",
    }
    assert public <= modules, sorted(public - modules)


@pytest.mark.parametrize(("module", "test"), EXAMPLES, ids=[test.name for _, test in EXAMPLES])
def test_docstring_example(module, test, tmp_path, monkeypatch):
    if keras.backend.backend() != "tensorflow" and module in TENSORFLOW_ONLY:
        pytest.skip(f"{module}'s examples run TensorFlow itself; the TensorFlow suite runs them")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    keras.utils.clear_session()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    output = []
    runner.run(test, out=output.append, clear_globs=True)
    assert runner.failures == 0, "".join(output)
