"""Latency of dense and pruned `.tflite` files in LiteRT, with its default
options (XNNPack on, as on a phone) and with the built-in kernels only.

Each network gets random weights, 95% of each prunable weight set to zero by
magnitude (latency depends on the sparsity pattern and the kernels, not on
what was learned); `--model` adds a model pruned by LTP. For float32 and int8 it writes the dense file, the file
`keras_ltp.export.tflite` writes by default, and the sparse-encoded int8
file (`sparse=True`), then times one inference (batch 1) in each
configuration: median over rounds that take turns between files, so that
machine noise hits all alike. Goal (issue 12): no default export is slower
than the dense file where it runs.

    python -m benchmarks.tflite_delegates            # LeNet-300-100, MLP, MobileNetV2
    python -m benchmarks.tflite_delegates --quick    # LeNet-300-100 only
    python -m benchmarks.tflite_delegates --model runs/lenet/lenet_300_100_pruned.keras  # also the main job's

Writes benchmarks/results/tflite_delegates.json.
"""

import argparse
import sys
import time
import warnings

if not __package__:  # run as `python benchmarks/tflite_delegates.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.tflite_delegates " + " ".join(sys.argv[1:]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ltp  # noqa: E402
from benchmarks import _common  # noqa: E402
from keras_ltp import export  # noqa: E402
from keras_ltp.registry import prunable_weights  # noqa: E402

SPARSITY = 0.95


def _mlp(widths, inputs=784):
    layers = [keras.layers.Dense(w, activation="relu") for w in widths[:-1]] + [keras.layers.Dense(widths[-1])]
    return keras.Sequential([keras.Input((inputs,)), *layers])


NETWORKS = {
    "lenet_300_100": lambda: _mlp((300, 100, 10)),
    "mlp_1024_2048_2048_10": lambda: _mlp((1024, 2048, 2048, 10)),
    "mobilenet_v2_224": lambda: keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)),
}


def magnitude_pruned(model, sparsity):
    """Zeroes the smallest `sparsity` fraction of each prunable weight."""
    for layer in model.layers:
        for weight in prunable_weights(layer):
            value = keras.ops.convert_to_numpy(weight.value)
            if value.size < 100:
                continue
            cut = np.quantile(np.abs(value), sparsity)
            weight.assign(np.where(np.abs(value) > cut, value, 0).astype(value.dtype))
    return model


def timer(content, builtin_kernels, per_round, threads=1):
    """`(one_round, None)`: a function timing `per_round` invokes (seconds
    each), or `(None, error)` when the file fails to prepare."""
    try:  # export.interpreter runs once: the warm-up, and Densify's one-off expansion
        runner = export.interpreter(model_content=content, builtin_kernels=builtin_kernels, num_threads=threads)
    except RuntimeError as error:
        return None, str(error)[:200]
    for entry in runner.get_input_details():
        runner.set_tensor(entry["index"], np.random.default_rng(0).normal(size=entry["shape"]).astype(entry["dtype"]))

    def one_round():
        times = []
        for _ in range(per_round):
            start = time.perf_counter()
            runner.invoke()
            times.append(time.perf_counter() - start)
        return times

    return one_round, None


def ratios(rows):
    """Per network: each default file's latency over the dense file's (default
    options), and the sparse int8 file on built-in kernels over the dense int8
    file with default options."""
    found = {}
    for network in dict.fromkeys(r["network"] for r in rows):
        ms = {(r["file"], r["dtype"]): r for r in rows if r["network"] == network}
        entry = {}
        for dtype in ("float32", "int8"):
            dense = ms[("dense", dtype)]["default_options_ms"]
            entry[f"{dtype}_default_export_vs_dense"] = (
                ms[("pruned, default export", dtype)]["default_options_ms"] / dense
            )
        entry["sparse_int8_builtin_vs_dense_int8_default"] = (
            ms[("pruned, sparse=True", "int8")]["builtin_kernels_ms"] / ms[("dense", "int8")]["default_options_ms"]
        )
        found[network] = entry
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="LeNet-300-100 only")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FILE.keras",
        help="also a pruned .keras model (e.g. the main job's runs/lenet/lenet_300_100_pruned.keras); "
        "its dense file is the same weights written with sparse=False",
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=20)
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*nothing was pruned")  # the dense networks, on purpose
    result = _common.record("tflite_delegates", argv, sparsity=SPARSITY, threads=1, batch=1, rows=[])
    names = ["lenet_300_100"] if args.quick else list(NETWORKS)
    for name in names + args.model:
        keras.utils.set_random_seed(0)
        if name in NETWORKS:
            dense = NETWORKS[name]()
            pruned = keras.models.clone_model(dense)
            pruned.set_weights(dense.get_weights())
            magnitude_pruned(pruned, SPARSITY)
        else:
            pruned = keras_ltp.strip(keras.saving.load_model(name, compile=False))
            dense = pruned  # written with sparse=False below: zeros stored, dense kernels
        calibration = np.random.default_rng(1).normal(size=(64, *dense.input_shape[1:])).astype("float32")
        files = {
            ("dense", "float32"): export.tflite_bytes(dense, sparse=False),
            ("pruned, default export", "float32"): export.tflite_bytes(pruned),
            ("dense", "int8"): export.tflite_bytes(dense, quantize="int8", representative_data=calibration),
            ("pruned, default export", "int8"): export.tflite_bytes(
                pruned, quantize="int8", representative_data=calibration
            ),
            ("pruned, sparse=True", "int8"): export.tflite_bytes(
                pruned, quantize="int8", representative_data=calibration, sparse=True
            ),
        }
        runners, failures = {}, {}
        for key, content in files.items():
            for builtin in (False, True):
                runners[key + (builtin,)], failures[key + (builtin,)] = timer(content, builtin, args.per_round)
        samples = {key: [] for key in runners}
        for _ in range(args.rounds):  # rounds take turns between files
            for key, run in runners.items():
                if run is not None:
                    samples[key] += run()
        for (kind, dtype), content in files.items():
            row = {"network": name, "file": kind, "dtype": dtype, "bytes": len(content)}
            for builtin, label in ((False, "default_options"), (True, "builtin_kernels")):
                times = samples[(kind, dtype, builtin)]
                row[f"{label}_ms"] = float(np.median(times) * 1e3) if times else None
                row[f"{label}_error"] = failures[(kind, dtype, builtin)]
            result["rows"].append(row)
            print(row, flush=True)

    result["ratios"] = ratios(result["rows"])
    print(result["ratios"])

    def cell(ms):
        return "fails to prepare" if ms is None else f"{ms:.3f} ms"

    print(
        _common.table(
            ["network", "file", "dtype", "bytes", "LiteRT default options", "built-in kernels"],
            [
                [
                    r["network"],
                    r["file"],
                    r["dtype"],
                    f"{r['bytes']:,}",
                    cell(r["default_options_ms"]),
                    cell(r["builtin_kernels_ms"]),
                ]
                for r in result["rows"]
            ],
        )
    )
    _common.write(result, args.results_dir, suffix="_quick.json" if args.quick else ".json")


if __name__ == "__main__":
    main()
