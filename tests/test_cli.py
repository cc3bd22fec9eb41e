"""The installed `keras-ltp` command, run as a user runs it: in a subprocess.

The model is `tests/data/torch_trained/model.keras`, pruned and trained on the
PyTorch backend (by `tests/data/train_on_backend.py`), so every test also
checks that a model trained on another backend exports from a TensorFlow
process. PyTorch is "poisoned" on the subprocess's path (importing it raises),
so no code path may import torch, whether or not it is installed: importing a
CUDA build of torch into a TensorFlow process can crash it (exit 139).
"""

import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import native_log_lines, poisoned_env

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_TRAINED = os.path.join(HERE, "data", "torch_trained")

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the command runs on TensorFlow; one run of these tests is enough"
)


def _command():
    path = os.path.join(os.path.dirname(sys.executable), "keras-ltp")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: install the package first (pip install -e '.[test]').")
    return path


@pytest.fixture
def poisoned(tmp_path):
    """An environment in which `import torch` and `import jax` raise; the
    command must also ignore KERAS_BACKEND=torch."""
    return poisoned_env(
        tmp_path / "poisoned",
        ("torch", "jax"),
        "keras-ltp imported %s into a TensorFlow process",
        KERAS_BACKEND="torch",
    )


def _run(args, env, cwd, timeout=300):
    return subprocess.run([_command(), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def test_help_and_version_answer_without_importing_keras(tmp_path):
    # A `keras` that cannot be imported: --help must not need it.
    env = poisoned_env(tmp_path, ("keras",), "--help imported %s")
    timings = []
    for args in (["--help"], ["export", "--help"], ["strip", "--help"], ["report", "--help"], ["--version"]):
        start = time.perf_counter()
        result = _run(args, env, tmp_path)
        timings.append(time.perf_counter() - start)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    assert min(timings) < 1.0, timings  # measured about 0.1 s each
    export_help = _run(["export", "--help"], env, tmp_path).stdout
    for text in ("input ", "a .keras model", "--overwrite", "replace outputs that already exist", "--verbose"):
        assert text in export_help
    assert "(default: float32 weights)" in export_help
    assert _run(["--version"], env, tmp_path).stdout.startswith("keras-ltp ")


@pytest.mark.slow
def test_readme_deploy_command_creates_folders_and_prints_no_logs(poisoned, tmp_path):
    """`keras-ltp export M --saved-model out/sm --tflite out/m.tflite` with no
    `out/` yet, started with KERAS_BACKEND=torch and torch unimportable."""
    x = np.load(os.path.join(TORCH_TRAINED, "x.npy"))
    expected = np.load(os.path.join(TORCH_TRAINED, "predictions.npy"))
    model = os.path.join(TORCH_TRAINED, "model.keras")
    result = _run(["export", model, "--saved-model", "out/sm", "--tflite", "out/m.tflite"], poisoned, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "sm" / "saved_model.pb").exists()
    assert native_log_lines(result.stdout + result.stderr) == [], result.stdout + result.stderr
    assert result.stderr == ""
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["Wrote", "Wrote"]

    from keras_ltp import export

    np.testing.assert_allclose(export.run_tflite(str(tmp_path / "out" / "m.tflite"), x), expected, rtol=1e-4, atol=1e-4)

    # The same again: outputs exist, so it refuses before loading anything, naming the flag.
    again = _run(["export", model, "--tflite", "out/m.tflite"], poisoned, tmp_path)
    assert again.returncode == 2
    assert "already exists; add --overwrite" in again.stderr and "overwrite=True" not in again.stderr
    replaced = _run(["export", model, "--tflite", "out/m.tflite", "--overwrite"], poisoned, tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-3000:]


@pytest.mark.slow
def test_strip_and_report_on_a_model_trained_on_torch(poisoned, tmp_path):
    model = os.path.join(TORCH_TRAINED, "model.keras")
    result = _run(["strip", model, "plain/plain.keras"], poisoned, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    report = _run(["report", "plain/plain.keras", "--json", "reports/r.json"], poisoned, tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert report.stderr == "" and native_log_lines(report.stdout) == []
    assert "overall" in report.stdout and (tmp_path / "reports" / "r.json").exists()

    import keras_ltp  # noqa: F401

    plain = keras.saving.load_model(tmp_path / "plain" / "plain.keras", compile=False)
    x = np.load(os.path.join(TORCH_TRAINED, "x.npy"))
    np.testing.assert_allclose(
        plain.predict(x, verbose=0), np.load(os.path.join(TORCH_TRAINED, "predictions.npy")), rtol=1e-4, atol=1e-4
    )
    assert all(type(layer).__module__.startswith("keras.") for layer in plain.layers)


def test_verbose_lets_native_logs_through(poisoned, tmp_path):
    # The same command without --verbose prints none (test above).
    loud = _run(
        ["export", os.path.join(TORCH_TRAINED, "model.keras"), "--tflite", "l.tflite", "--verbose"], poisoned, tmp_path
    )
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert len(native_log_lines(loud.stdout + loud.stderr)) > 0  # TensorFlow's and the converter's lines


def test_user_errors_exit_2_with_one_line(poisoned, tmp_path):
    cases = [
        (["report", "nope.keras"], "no such file"),
        (["export", os.path.join(TORCH_TRAINED, "model.keras")], "nothing to do"),
        (
            ["export", os.path.join(TORCH_TRAINED, "model.keras"), "--tflite", "m.tflite", "--quantize", "int8"],
            "needs --calibration",
        ),
        (["strip", os.path.join(TORCH_TRAINED, "model.keras"), "out.h5"], "must end in .keras"),
        (
            ["export", os.path.join(TORCH_TRAINED, "model.keras"), "--saved-model", "sm", "--sparse", "yes"],
            "--sparse applies to the .tflite file",
        ),
        (
            ["export", os.path.join(TORCH_TRAINED, "model.keras"), "--saved-model", "sm", "--quantize", "float16"],
            "--quantize applies to the .tflite file",
        ),
    ]
    (tmp_path / "corrupt.keras").write_bytes(b"not a zip")
    cases.append((["export", "corrupt.keras", "--tflite", "m.tflite"], "not a .keras archive"))
    (tmp_path / "file").write_text("a file where a folder should be")
    cases.append(
        (["export", os.path.join(TORCH_TRAINED, "model.keras"), "--tflite", "file/m.tflite"], "not a directory")
    )
    for args, message in cases:
        result = _run(args, poisoned, tmp_path)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.tflite").exists() and not (tmp_path / "sm").exists()


def test_python_export_of_a_torch_trained_model_never_imports_torch(poisoned, tmp_path):
    """The documented Python route: load with compile=False, then export."""
    code = (
        "import sys, numpy as np, keras, keras_ltp\n"
        "assert keras.backend.backend() == 'tensorflow'\n"
        f"m = keras.saving.load_model({os.path.join(TORCH_TRAINED, 'model.keras')!r}, compile=False)\n"
        "keras_ltp.export.saved_model(m, 'out/saved_model')\n"
        "keras_ltp.export.tflite(m, 'out/model.tflite')\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    env = dict(poisoned, KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
    assert (tmp_path / "out" / "saved_model" / "saved_model.pb").exists() and (
        tmp_path / "out" / "model.tflite"
    ).exists()
    assert "fully_quantize" not in result.stdout  # the converter's print is captured


def test_torch_fixture_names_the_torch_optimizer():
    # What makes the fixture meaningful: loading it with compile=True in a
    # TensorFlow process imports Keras' PyTorch optimizer module.
    import json
    import zipfile

    with zipfile.ZipFile(os.path.join(TORCH_TRAINED, "model.keras")) as archive:
        config = json.loads(archive.read("config.json"))
    assert config["compile_config"]["optimizer"]["module"].startswith("keras.src.backend.torch")
