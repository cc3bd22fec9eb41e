"""keras_ltp.native_output.captured: native writes hidden, Python's shown."""

import subprocess
import sys

_CODE = """
import os, sys
from keras_ltp_cli import _native_output  # loads it without importing keras (and TensorFlow)
captured = _native_output().captured
with captured(enabled=sys.argv[1] == "on"):
    os.write(1, b"native to fd 1\\n")
    os.write(2, b"native to fd 2\\n")
    print("python print")
    print("python stderr", file=sys.stderr)
    if sys.argv[2] == "fail":
        raise SystemExit("failed inside")
print("after the block")
"""


def _run(*args):
    return subprocess.run([sys.executable, "-c", _CODE, *args], capture_output=True, text=True, timeout=120)


def test_native_output_is_hidden_and_python_output_is_not():
    result = _run("on", "ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["python print", "after the block"]
    assert result.stderr.splitlines() == ["python stderr"]


def test_disabled_is_a_no_op():
    result = _run("off", "ok")
    assert "native to fd 1" in result.stdout and "python print" in result.stdout
    assert "native to fd 2" in result.stderr


def test_a_failure_shows_what_was_captured():
    result = _run("on", "fail")
    assert result.returncode == 1
    assert "[native output before the error]" in result.stderr
    assert "native to fd 1" in result.stderr and "native to fd 2" in result.stderr
    assert "failed inside" in result.stderr
    assert "after the block" not in result.stdout
