"""The test suite on the JAX and PyTorch backends.

Keras fixes its backend when it is first imported, so each backend runs the
suite in its own pytest process (two xdist workers, like the TensorFlow run).
Modules that need TensorFlow (export, tf.distribute) skip themselves there;
the export of models trained on other backends is tested in test_export.py.

The sub-suites leave out the tests marked `slow` (the TensorFlow run has them):
each has a faster test of the same code that the sub-suites run, e.g. the
kill-and-resume runs of test_resume.py by test_callbacks.py's BackupAndRestore
test, the nested MobileNetV2 by test_models.py's nested functional model and
test_wrapper.py's depthwise layers, the KerasHub families and the
keras.applications model by test_keras_hub.py's tied-embedding and LoRA tests
and test_copying.py. Deselect with `-k "not other_backend_suite"`
for a quick TensorFlow-only run.
"""

import os
import subprocess
import sys

import keras
import pytest
from conftest import IN_SUBSUITE, OTHER_BACKENDS, require_backend_package

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow" or IN_SUBSUITE,
    reason="run once, from the TensorFlow suite",
)
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_other_backend_suite(backend):
    require_backend_package(backend)
    env = dict(os.environ, KERAS_BACKEND=backend, KERAS_LTP_SUBSUITE="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            HERE,
            "-q",
            "-p",
            "no:cacheprovider",
            "-rfE",
            "-m",
            "not slow",
            f"--ignore={os.path.join(HERE, 'test_backends.py')}",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        cwd=os.path.dirname(HERE),
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, (
        f"KERAS_BACKEND={backend} python -m pytest: {summary}\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )
    assert " passed" in summary and "failed" not in summary, summary
