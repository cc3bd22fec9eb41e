"""Recurrent models in `.tflite`: size, agreement and latency of the files
`keras_ltp.export.tflite` writes (recurrent layers unrolled,
`keras_ltp.export.unrolled`), in LiteRT with its default options (XNNPack
on, as on a phone), batch 1, one thread.

Each network gets random weights with 90% of each prunable weight set to
zero by magnitude (size and latency depend on the pattern, not on what was
learned), at two sequence lengths: the file holds every step of the cell,
so it grows with the length. For each: the dense float32 file, the default
float32 export (sparse-encoded) and the default int8 export (weights stored
dense), with the largest difference from the Keras model on 32 random
sequences (int8: relative to the output range) and the median latency over
rounds that take turns between files.

    python -m benchmarks.recurrent_export

Writes benchmarks/results/recurrent_export.json.
"""

import argparse
import sys
import warnings

if not __package__:  # run as `python benchmarks/recurrent_export.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.recurrent_export " + " ".join(sys.argv[1:]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import _common  # noqa: E402
from benchmarks.tflite_delegates import magnitude_pruned, timer  # noqa: E402
from keras_ltp import export  # noqa: E402

SPARSITY = 0.9
VOCABULARY = 1000
layers = keras.layers


def _lstm(steps):
    x = keras.Input((steps, 16))
    return keras.Model(x, layers.Dense(4)(layers.LSTM(64)(x)), name="lstm64")


def _text(steps):
    x = keras.Input((steps,), dtype="int32")
    h = layers.Embedding(VOCABULARY, 32)(x)
    h = layers.Bidirectional(layers.LSTM(32, return_sequences=True))(h)
    h = layers.GRU(32)(h)
    return keras.Model(x, layers.Dense(2)(h), name="bilstm_gru_text")


NETWORKS = {"lstm64": _lstm, "bilstm_gru_text": _text}


def _inputs(model, n, seed=0):
    rng = np.random.default_rng(seed)
    spec = model.inputs[0]
    shape = (n,) + tuple(spec.shape[1:])
    if spec.dtype == "int32":
        return rng.integers(0, VOCABULARY, size=shape).astype("int32")
    return rng.normal(size=shape).astype("float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[12, 48])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=20)
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*nothing was pruned")  # plain models with zeros, on purpose
    result = _common.record("recurrent_export", argv, sparsity=SPARSITY, threads=1, batch=1, rows=[])
    for name, build in NETWORKS.items():
        for steps in args.steps:
            keras.utils.set_random_seed(0)
            model = magnitude_pruned(build(steps), SPARSITY)
            x = _inputs(model, 32)
            expected = keras.ops.convert_to_numpy(model(x))
            files = {
                "dense float32": export.tflite_bytes(model, sparse=False),
                "default float32": export.tflite_bytes(model),
                "default int8": export.tflite_bytes(model, quantize="int8", representative_data=_inputs(model, 200, 1)),
            }
            runners = {}
            for label, content in files.items():
                got = export.run_tflite(content, x)
                error = float(np.abs(got - expected).max())
                if "int8" in label:
                    error /= float(np.abs(expected).max())
                runner, failure = timer(content, False, args.per_round)
                runners[label] = runner
                result["rows"].append(
                    {
                        "network": name,
                        "steps": steps,
                        "params": int(model.count_params()),
                        "file": label,
                        "bytes": len(content),
                        "runs_with_default_options": failure is None,
                        "max_error": error,
                        "error_is_relative": "int8" in label,
                    }
                )
            samples = {label: [] for label in files}
            for _ in range(args.rounds):
                for label, runner in runners.items():
                    if runner is not None:
                        samples[label].extend(runner())
            for row in result["rows"][-len(files) :]:
                times = samples[row["file"]]
                row["default_options_ms"] = float(np.median(times) * 1e3) if times else None
    dense_ms = {
        (r["network"], r["steps"]): r["default_options_ms"] for r in result["rows"] if r["file"] == "dense float32"
    }
    for row in result["rows"]:
        base = dense_ms[(row["network"], row["steps"])]
        row["vs_dense_float32"] = row["default_options_ms"] / base if base and row["default_options_ms"] else None
    print(
        _common.table(
            ["network", "steps", "file", "bytes", "default options", "max error", "ms", "vs dense"],
            [
                [
                    r["network"],
                    r["steps"],
                    r["file"],
                    f"{r['bytes']:,}",
                    "runs" if r["runs_with_default_options"] else "fails",
                    f"{r['max_error']:.2g}{' (rel.)' if r['error_is_relative'] else ''}",
                    f"{r['default_options_ms']:.3f}",
                    f"{r['vs_dense_float32']:.2f}x",
                ]
                for r in result["rows"]
            ],
        )
    )
    _common.write(result, args.results_dir)


if __name__ == "__main__":
    main()
