"""The test suite on the JAX and PyTorch backends.

Keras fixes its backend when it is first imported, so each backend runs in
its own pytest process (two xdist workers, like the TensorFlow run). The
default run (the README's test command) takes the modules whose code runs
differently on each backend (`CORE_MODULES`); CI's `--slow` step takes every
module (`test_other_backend_full_suite`). Modules that need TensorFlow
(export, tf.distribute) skip themselves there; the export of models trained
on other backends is tested in test_export.py.

The sub-suites leave out the tests marked `slow` (CI runs them on TensorFlow
with `--slow`): each has a faster test of the same code that the sub-suites
run, e.g. the kill-and-resume runs of test_resume.py by test_callbacks.py's
BackupAndRestore test, the nested MobileNetV2 by test_models.py's nested
functional model and test_wrapper.py's depthwise layers, the KerasHub
families and the keras.applications model by test_keras_hub.py's
tied-embedding test and test_copying.py. A few tests of the core modules that
are quick on TensorFlow but slow on JAX skip themselves in the core run and
say why (`IN_CORE_SUBSUITE` in conftest.py); the full run takes them. Deselect
with `-k "not other_backend"` for a quick TensorFlow-only run.
"""

import os
import subprocess
import sys

import keras
import pytest
from conftest import IN_SUBSUITE, OTHER_BACKENDS, require_backend_package

HERE = os.path.dirname(os.path.abspath(__file__))


# The modules whose code runs differently on each backend: the mask math and
# its gradients, the wrapper around every layer type, training inside `fit`
# with the callbacks, saving, shared weights and mixed precision. The default
# run takes these on JAX (and PyTorch); CI takes every module there with --slow.
CORE_MODULES = (
    "test_masks.py",
    "test_wrapper.py",
    "test_callbacks.py",
    "test_saving.py",
    "test_shared_weights.py",
    "test_mixed_precision.py",
)

_ONCE = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow" or IN_SUBSUITE,
    reason="run once, from the TensorFlow suite",
)


def _run_suite(backend, paths, kind):
    """Runs pytest on `paths` under KERAS_BACKEND=backend (tests not marked
    slow); `kind` ("core" or "full") is what conftest.IN_CORE_SUBSUITE reads."""
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
def test_other_backend_suite(backend, request):
    """The backend-sensitive modules (`CORE_MODULES`) on `backend`."""
    if request.config.getoption("--slow"):
        pytest.skip("with --slow, test_other_backend_full_suite runs every module on this backend instead")
    _run_suite(backend, [os.path.join(HERE, name) for name in CORE_MODULES], "core")


@pytest.mark.slow
@_ONCE
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_other_backend_full_suite(backend):
    """Every module on `backend` (CI runs it with --slow)."""
    _run_suite(backend, [HERE], "full")
