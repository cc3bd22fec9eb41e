"""Every result figure in README.md and benchmarks/README.md traces to a
committed file under benchmarks/results/ (no training here: the files are
read as text).

A figure is a number as the docs write it: `94.80%`, `1.19x`, `-0.30`,
`128,360`. It matches a number `n` of a result file when `n * scale` rounds
to it at the written precision (`94.80%` is 0.948 or 94.8 in a file: scales
100 and 1). Checked:

- every table of the two docs, cell by cell in the columns that hold
  results, against the files its `TABLES` entry names (a table that is
  neither listed there nor in `NOT_RESULTS` fails the test: a new result
  table must name its source);
- the figures with `%` or `x` in the prose of benchmarks/README.md and of
  the README's "Results" and "Faster models" sections, against the result
  files their paragraph names (`results/X.json`), or every result file if
  it names none.

Differences of two checked figures ("+1.66 points") and settings (epochs,
batch sizes, targets written without `%`) are not figures here. Code blocks
and `inline code` are skipped.
"""

import glob
import json
import os
import re

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
# doc: the sections whose prose is checked (None: all of it)
DOCS = {"README.md": ("## Results ", "## Faster models"), "benchmarks/README.md": None}

PERCENT, PLAIN, MB = (100.0, 1.0), (1.0,), (1.0 / 2**20,)
# Tables of the docs that hold no results (API, options).
NOT_RESULTS = {("name", "what it does"), ("option", "default", "meaning"), ("family", "what fails", "why")}
# header -> (result files, {column: scales for figures without a unit}); `%` figures use PERCENT, `x` figures PLAIN.
# The latency tables (benchmarks/latency.py): every column after network and model holds results.
LATENCY_TABLE = (
    "network",
    "model",
    "held-out accuracy",
    "multiply-adds",
    "params",
    ".tflite bytes",
    "LiteRT default, 1 thread",
    "LiteRT default, 2 threads",
    "TF CPU, batch 1",
    "TF CPU, batch 64",
)
SEEDS_TABLE = (
    "network",
    "model",
    "seeds",
    "held-out accuracy",
    "multiply-adds",
    "LiteRT 1 thread speed-up",
    "LiteRT 2 threads speed-up",
    "TF CPU batch 1 speed-up",
    "TF CPU batch 64 speed-up",
)
TABLES = {
    LATENCY_TABLE: (
        ["latency.json", "latency_target85.json", "latency_coupled.json", "latency_equal.json"],
        dict.fromkeys(LATENCY_TABLE[2:], PLAIN),
    ),
    SEEDS_TABLE: (
        [
            "latency_transformer.json",
            "latency_seeds.json",
            "latency_equal_seeds.json",
            "latency_rounded_seeds.json",
            "latency_rounded_nearest.json",
            "latency_small_resnet_target80.json",
        ],
        dict.fromkeys(SEEDS_TABLE[2:], PLAIN),
    ),
    ("model", "widths", "multiply-adds", "LiteRT default, 1 thread", "ns per multiply-add"): (
        ["width_latency.json"],
        dict.fromkeys(("multiply-adds", "LiteRT default, 1 thread", "ns per multiply-add"), PLAIN),
    ),
    ("network", "seed", "channel LTP accuracy", "L1 accuracy at LTP's LiteRT latency"): (
        ["latency_equal.json", "latency_equal_seeds.json"],
        {"channel LTP accuracy": PLAIN, "L1 accuracy at LTP's LiteRT latency": PLAIN},
    ),
    ("network", "model", "seed", "LTP accuracy", "L1 accuracy at LTP's LiteRT latency"): (
        ["latency_rounded_nearest.json"],
        {"LTP accuracy": PLAIN, "L1 accuracy at LTP's LiteRT latency": PLAIN},
    ),
    ("example", "dense accuracy", "pruned accuracy", "sparsity", "command"): (
        ["example_*.json"],
        {"dense accuracy": PLAIN, "pruned accuracy": PLAIN, "sparsity": PLAIN},
    ),
    ("network", "file", "bytes", "LiteRT default options", "built-in kernels"): (
        ["tflite_delegates.json"],
        {"bytes": PLAIN, "LiteRT default options": PLAIN, "built-in kernels": PLAIN},
    ),
    ("network", "steps", "file", "bytes", "max error", "ms", "vs dense"): (
        ["recurrent_export.json"],
        {"bytes": PLAIN, "ms": PLAIN, "vs dense": PLAIN},
    ),
    ("policy", "sparsity", "held-out accuracy", "vs float32"): (
        ["mixed_precision.json"],
        {"sparsity": PLAIN, "held-out accuracy": PLAIN, "vs float32": PLAIN},
    ),
    ("model", "weights pruned", "dense s/epoch", "LTP s/epoch", "LTP/dense"): (
        ["train_speed.json"],
        {"weights pruned": PLAIN, "dense s/epoch": PLAIN, "LTP s/epoch": PLAIN, "LTP/dense": PLAIN},
    ),
    ("batch 32 / batch 8", "dense", "LTP", "LTP/dense"): (
        ["resnet50_size.json"],
        {"dense": PLAIN + MB, "LTP": PLAIN + MB, "LTP/dense": PLAIN},  # seconds, or MB of the bytes recorded
    ),
    ("model", "target", "method", "accuracy", "Δ vs dense (points)", "sparsity", "s/epoch", "sparse .tflite bytes"): (
        ["compare.json", "compare.md"],
        {
            c: PLAIN
            for c in ("target", "accuracy", "Δ vs dense (points)", "sparsity", "s/epoch", "sparse .tflite bytes")
        },
    ),
    ("model", "90%", "95%", "98%", "99%"): (
        ["compare.json", "compare.md"],
        {c: PERCENT for c in ("90%", "95%", "98%", "99%")},
    ),
    (
        "network",
        "target",
        "recipe",
        "epochs",
        "test accuracy",
        "tune accuracy",
        "sparsity",
        "dense test",
        "test - dense",
    ): (
        ["recipes_*.json"],
        {c: PERCENT for c in ("test accuracy", "tune accuracy", "sparsity", "dense test", "test - dense")},
    ),
    ("model", "target", "LTP, max_strength=30 (default)", "LTP, max_strength=1e4"): (
        ["compare.json", "compare_ltp_max_strength_1e4.json"],
        {c: PLAIN for c in ("target", "LTP, max_strength=30 (default)", "LTP, max_strength=1e4")},
    ),
}
# The size table: bytes from export_lenet.json, ratios computed from them.
EXPORT_TABLE = ("file", "bytes", "vs dense float32", "vs floor (kept weights x bytes per value)")

FIGURE = re.compile(
    r"(?<![\w.,/])(?<!\w-)([-+]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(%|x(?!\w))?(?![\w.]*\d)(?![eE][-+]?\d)"
)
SOURCE_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _text(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _without_fences(text):
    """Blanks fenced code blocks (commands), keeping the line count."""
    return re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def _without_code(text):
    """Also blanks `inline code` (commands, option values)."""
    return re.sub(r"`[^`\n]*`", " ", _without_fences(text))


def _pool(patterns):
    """Every number in the named result files, as an array."""
    paths = sorted({p for pattern in patterns for p in glob.glob(os.path.join(RESULTS, pattern))})
    assert paths, patterns
    numbers = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        numbers += [float(token.replace(",", "")) for token in SOURCE_NUMBER.findall(text)]
    return np.array(numbers)


def figures(text):
    """(written, value, decimals, unit) for each figure in `text`."""
    found = []
    for m in FIGURE.finditer(text.replace("**", "")):
        sign, whole, fraction, unit = m.groups()
        value = float(whole.replace(",", "") + ("." + fraction if fraction else ""))
        found.append((m.group(0), -value if sign == "-" else value, len(fraction or ""), unit or ""))
    return found


def matches(value, decimals, unit, pool, scales=PLAIN):
    scales = PERCENT if unit == "%" else PLAIN if unit == "x" else scales
    tolerance = 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-12
    return any(bool(np.any(np.abs(pool * scale - value) <= tolerance)) for scale in scales)


def tables(doc):
    """(header, rows) of each Markdown table of `doc`, cells without code."""
    found, block = [], []
    for line in _without_fences(_text(doc)).splitlines() + [""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if block:
            header = tuple(re.sub(r"[`*]", "", cell) for cell in block[0])
            rows = [[_without_code(cell).strip() for cell in row] for row in block[1:]]
            found.append((header, [row for row in rows if not set("".join(row)) <= set("-: ")]))
        block = []
    return found


def paragraphs(doc, section):
    """The doc's paragraphs and list items outside tables, headings and code blocks (only
    `section`'s, if given), inline code kept (it names the result files)."""
    text = _without_fences(_text(doc))
    if section:
        start = text.index("\n" + section)  # the heading line, whatever follows its name
        end = text.find("\n## ", start + 1)
        text = text[start : end if end != -1 else None]
    kept = "\n".join("" if line.startswith(("|", "#")) else line for line in text.splitlines())
    return [p for p in re.split(r"\n\s*\n|\n(?=\s*(?:-|\d+\.) )", kept) if p.strip()]  # list items apart


def sources_named(paragraph):
    """The result files a paragraph names (`results/X.json`, `results/X.*`,
    `results/example_*.json`), as glob patterns under benchmarks/results/."""
    names = re.findall(r"results/([\w.*<>-]+)", paragraph)
    return sorted(
        {re.sub(r"<\w+>", "*", n.rstrip(".,;:")) for n in names if re.search(r"\.(json|md|\*)$", n.rstrip(".,;:"))}
    )


def _check_export_table(rows, failures):
    report = json.loads(_text("benchmarks/results/export_lenet.json"))
    files = report["files"]
    dense = files["dense_float32"]["bytes"]
    checked = 0
    for row in rows:
        key = re.sub(r"[^a-z0-9]+", "_", row[0].lower()).strip("_")  # "sparse float32" -> sparse_float32
        entry = files.get(key)
        if entry is None:
            failures.append(f"export table: no file {key!r} in export_lenet.json")
            continue
        written = figures(" ".join(row[1:]))
        expected = [entry["bytes"], entry["bytes"] / dense] + (
            [entry["bytes"] / entry["floor_bytes"]] if entry["floor_bytes"] else []
        )
        for (text, value, decimals, _), want in zip(written, expected):
            checked += 1
            if abs(value - want) > 0.5 * 10.0**-decimals:
                failures.append(f"export table, {row[0]}: {text} is not {want:.6g}")
        if len(written) != len(expected):
            failures.append(f"export table, {row[0]}: {len(written)} figures, expected {len(expected)}")
    return checked


def check_tables():
    failures, checked = [], 0
    for doc in DOCS:
        for header, rows in tables(doc):
            if header in NOT_RESULTS:
                continue
            if header == EXPORT_TABLE:
                checked += _check_export_table(rows, failures)
                continue
            if header not in TABLES:
                failures.append(f"{doc}: table {header} is not in tests/test_docs.py's TABLES (name its result files)")
                continue
            sources, columns = TABLES[header]
            pool = _pool(sources)
            for row in rows:
                assert len(row) == len(header), (doc, header, row)
                for column, cell in zip(header, row):
                    if column not in columns:
                        continue
                    for text, value, decimals, unit in figures(cell):
                        checked += 1
                        if not matches(value, decimals, unit, pool, columns[column]):
                            failures.append(f"{doc}: {text!r} ({row[0]}, {column}) is in none of {sources}")
    return checked, failures


def check_prose():
    """Figures with `%` or `x`, each against the result files its paragraph
    names, or against all of them if it names none."""
    everything = _pool(["*.json", "*.md"])
    failures, checked = [], 0
    for doc, sections in DOCS.items():
        for paragraph in [p for section in sections or (None,) for p in paragraphs(doc, section)]:
            named = sources_named(paragraph)
            missing = [n for n in named if not glob.glob(os.path.join(RESULTS, n))]
            if missing:
                failures.append(f"{doc}: names results/{missing} that do not exist: {paragraph[:80]!r}")
                continue
            pool = _pool(named) if named else everything
            for text, value, decimals, unit in figures(_without_code(paragraph)):
                if not unit:
                    continue
                checked += 1
                if not matches(value, decimals, unit, pool):
                    where = f"none of the files it names, {named}" if named else "no file of benchmarks/results/"
                    failures.append(f"{doc}: {text!r} is in {where}: {' '.join(paragraph.split())[:100]!r}")
    return checked, failures


def test_every_table_figure_is_in_its_result_files():
    checked, failures = check_tables()
    assert not failures, "\n".join(failures)
    assert checked >= 400, checked  # the compare table alone has 64 rows of 6 figures


def test_every_prose_figure_is_in_a_result_file():
    checked, failures = check_prose()
    assert not failures, "\n".join(failures)
    assert checked >= 40, checked


def test_the_parser_reads_the_figures_as_written():
    assert [(v, d, u) for _, v, d, u in figures("94.50% (-0.30) | 27.8x | 1,069,504 | **1.19x** / 1x4 64x64 1e-3")] == [
        (94.5, 2, "%"),
        (-0.3, 2, ""),
        (27.8, 1, "x"),
        (1069504.0, 0, ""),
        (1.19, 2, "x"),
    ]
    _, rows = next(t for t in tables("README.md") if t[0][0] == "example")
    assert rows and any("95.10%" in cell for cell in rows[0])


@pytest.mark.parametrize("written", ["95.11%", "27.8x", "-0.21"])
def test_a_figure_off_by_one_in_its_last_digit_fails(written):
    pool = _pool(["example_lenet.json"])
    ((_, value, decimals, unit),) = figures(written)
    assert not matches(value, decimals, unit, pool)
    real = {"95.11%": "95.10%", "27.8x": "27.9x", "-0.21": "-0.20"}[written]
    ((_, value, decimals, unit),) = figures(real)
    assert matches(value, decimals, unit, pool)
