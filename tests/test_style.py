"""The tree passes ruff's lint and format checks (configured in pyproject.toml).

In the test suite, so that the README's test command (and CI, which runs it)
checks style too. To fix a failure: `ruff format . && ruff check --fix .`.
"""

import os
import subprocess
import sys

import pytest
from conftest import IN_SUBSUITE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(
    IN_SUBSUITE,
    reason="style does not depend on the backend; the TensorFlow run checks it",
)


@pytest.mark.parametrize("check", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff(check):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *check], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    fix = "ruff format . && ruff check --fix ."
    output = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"ruff {' '.join(check)} failed; fix with `{fix}`:\n{output}"
