"""What every benchmark shares: the result record, writing it, the table.

Each benchmark builds its JSON with `record()` when it starts (so the git
state is that of the code the run imported), adds its own fields, and
writes it with `write()` under benchmarks/results/ (or `--results-dir`).
Every record has the same keys:

    benchmark   the result's name (the file is results/<benchmark>.json)
    command     the command that reproduces it, run from the repository root
    date        UTC start time, ISO 8601
    git         commit, dirty (uncommitted changes at the start), changes
                (`git status --porcelain` lines)
    machine     platform, processor, python, cpus, load_average (start)
    versions    installed versions of the packages that matter, and the
                Keras backend
    wall_s      seconds from record() to write()

`table()` formats the tables the benchmarks print (and compare's Markdown).
"""

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import time

__all__ = ["RESULTS", "ROOT", "add_results_option", "record", "table", "write"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
PACKAGES = ("keras-ltp", "keras", "tensorflow", "tf-keras", "tensorflow-model-optimization", "jax", "torch", "numpy")


def add_results_option(parser):
    """`--results-dir`: where the result files go (default benchmarks/results;
    point smoke runs elsewhere)."""
    parser.add_argument("--results-dir", default=RESULTS, help="folder of the result files (default: %(default)s)")


def _git_state():
    def git(*args):
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, timeout=30, check=True).stdout

    try:
        changes = git("status", "--porcelain").splitlines()
        return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(changes), "changes": changes}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "changes": []}


def _versions():
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    import keras

    versions["keras_backend"] = keras.config.backend()
    return versions


def record(script, argv=None, name=None, **fields):
    """The start of a result: the keys above, then `fields`.

    Args:
        script: the module's name in `benchmarks` (e.g. "train_speed").
        argv: the command-line arguments (default `sys.argv[1:]`).
        name: the result's name, if not `script` (e.g. "compare_quick").
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    return {
        "benchmark": name or script,
        "command": shlex.join(["python", "-m", f"benchmarks.{script}", *argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": _git_state(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "versions": _versions(),
        "_started": time.perf_counter(),
        **fields,
    }


def write(result, results_dir=RESULTS, suffix=".json"):
    """Writes `result` (from `record()`) as `results_dir/<benchmark>.json`
    with `wall_s` set; returns the path."""
    result["wall_s"] = time.perf_counter() - result.pop("_started")
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, result["benchmark"] + suffix)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"Wrote {os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path}")
    return path


def table(header, rows, markdown=False):
    """Rows of cells (strings) as aligned text (first column left, the others
    right) or, with `markdown=True`, as a Markdown table."""
    rows = [[str(cell) for cell in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in [header, *rows]
    )
