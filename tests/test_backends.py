"""The test suite on the JAX and PyTorch backends.

Keras fixes its backend when it is first imported, so each backend runs the
suite in its own pytest process. Modules that need TensorFlow (export,
tf.distribute) skip themselves there; the export of models trained on other
backends is tested in test_export.py. Deselect with `-k "not other_backend_suite"`
for a quick TensorFlow-only run.
"""

import os
import subprocess
import sys

import keras
import pytest
from conftest import OTHER_BACKENDS, require_backend_package

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow" or os.environ.get("KERAS_LTP_SUBSUITE") == "1",
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
            "-n",
            "0",
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
