"""The test suite on the JAX and PyTorch backends.

Keras fixes its backend when it is first imported, so each backend runs in
its own pytest process (two xdist workers, like the TensorFlow run). The
suite is split in two parts that together take every module once:
- the core run (`test_other_backend_suite`, in the default run, the README's
  test command): the modules whose code runs differently on each backend
  (`CORE_MODULES` in conftest.py);
- the rest run (`test_other_backend_rest_of_suite`, marked slow: CI's
  `--slow` step and the PyTorch command): every other module, and the core
  tests marked `left_to_rest_run`, which are quick on TensorFlow but slow on
  JAX and which the core run skips, saying why.
Modules that need TensorFlow (export, tf.distribute) skip themselves in both;
the export of models trained on other backends is tested in test_export.py.

Both leave out the tests marked `slow` (CI runs them on TensorFlow with
`--slow`): each has a faster test of the same code that the sub-suites run,
e.g. the kill-and-resume runs of test_resume.py by test_callbacks.py's
BackupAndRestore test, the nested MobileNetV2 by test_models.py's nested
functional model and test_wrapper.py's depthwise layers, the KerasHub
families and the keras.applications model by test_keras_hub.py's
tied-embedding test and test_copying.py. Deselect with
`-k "not other_backend"` for a quick TensorFlow-only run.
"""

import os
import subprocess
import sys

import keras
import pytest
from conftest import CORE_MODULES, IN_SUBSUITE, OTHER_BACKENDS, require_backend_package

HERE = os.path.dirname(os.path.abspath(__file__))


_ONCE = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow" or IN_SUBSUITE,
    reason="run once, from the TensorFlow suite",
)


def _run_suite(backend, paths, kind):
    """Runs pytest on `paths` under KERAS_BACKEND=backend (tests not marked
    slow); `kind` ("core" or "rest") is what conftest.SUBSUITE reads."""
    require_backend_package(backend)
    env = dict(os.environ, KERAS_BACKEND=backend, KERAS_LTP_SUBSUITE=kind)
    command = [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider", "-rfE", "-m", "not slow"]
    command.append(f"--ignore={os.path.join(HERE, 'test_backends.py')}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env, cwd=os.path.dirname(HERE))
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, (
        f"KERAS_BACKEND={backend} python -m pytest: {summary}\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )
    assert " passed" in summary and "failed" not in summary, summary


@_ONCE
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_other_backend_suite(backend):
    """The backend-sensitive modules (`CORE_MODULES`) on `backend`."""
    _run_suite(backend, [os.path.join(HERE, name) for name in CORE_MODULES], "core")


@pytest.mark.slow
@_ONCE
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_other_backend_rest_of_suite(backend):
    """What `test_other_backend_suite` leaves out, on `backend` (CI runs it
    with --slow): every module but `CORE_MODULES`, and their tests marked
    `left_to_rest_run`."""
    _run_suite(backend, [HERE], "rest")
