"""Seed spread of LTP and tfmot at one (model, target) of `compare.py`.

`compare.py` runs each method once. Its single figures move between runs by
more than some of the gaps it reports (tfmot on LeNet-300-100 at 98%: 91.7%
in one committed run, 90.9% in the next), so this reruns LTP and tfmot with several
seeds from the same dense checkpoint, same settings, and reports each
method's mean, spread and the gap between them.

    python -m benchmarks.seeds                                   # LeNet-300-100 at 98%, seeds 1-5
    python -m benchmarks.seeds --model lenet5 --target 0.98 --seeds 1 2 3

Writes benchmarks/results/seeds_<model>_<target>.json.
"""

import argparse
import os
import statistics
import sys
import tempfile

if not __package__:  # run as `python benchmarks/seeds.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.seeds " + " ".join(sys.argv[1:]))

from benchmarks import _common, compare  # noqa: E402, I001 - first: compare quiets TensorFlow's logs before Keras loads
import keras  # noqa: E402
import numpy as np  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet_300_100", choices=list(compare.BUILDERS))
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--batch-size", type=int, default=64)
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    result = _common.record("seeds", argv, name=f"seeds_{args.model}_{int(round(args.target * 100))}")

    dense_epochs, epochs = compare.FULL[args.model]
    (x, y), (xt, yt) = compare.ltp_data.mnist_offline()
    data = ((x, y), (xt, yt))
    scratch = tempfile.mkdtemp()
    data_path = os.path.join(scratch, "data.npz")
    np.savez(data_path, x=x, y=y, xt=xt, yt=yt)
    dense, dense_accuracy, weights_path = compare.train_dense(args.model, data, dense_epochs, args.batch_size, scratch)
    print(f"{args.model}: dense accuracy {dense_accuracy:.2%}", flush=True)

    runs = []
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        plain, seconds = compare.ltp(dense, args.target, args.model, data, epochs, args.batch_size)
        row = compare.summarize("ltp", args.model, args.target, plain, seconds, data, args.batch_size)
        runs.append(dict(row, seed=seed))
        runs.append(
            dict(
                compare.tfmot(args.model, args.target, weights_path, data_path, epochs, args.batch_size, seed=seed),
                seed=seed,
            )
        )
        for run in runs[-2:]:
            shown = run.get("error") or f"accuracy {run['accuracy']:.2%} at sparsity {run['sparsity']:.2%}"
            print(f"  seed {seed} {run['method']:<18} {shown}", flush=True)

    summary = {}
    for method in ("ltp", "tfmot_polynomial"):
        accuracies = [r["accuracy"] for r in runs if r["method"] == method and "error" not in r]
        if accuracies:
            summary[method] = {
                "mean": statistics.mean(accuracies),
                "min": min(accuracies),
                "max": max(accuracies),
                "accuracies": accuracies,
            }
    print(
        "\n"
        + _common.table(
            ["method", "mean", "min", "max"],
            [[method, f"{s['mean']:.2%}", f"{s['min']:.2%}", f"{s['max']:.2%}"] for method, s in summary.items()],
        )
        + f"\n(held-out accuracy, {len(args.seeds)} seeds)"
    )
    if len(summary) == 2:
        gap = (summary["ltp"]["mean"] - summary["tfmot_polynomial"]["mean"]) * 100
        worst = (summary["ltp"]["min"] - summary["tfmot_polynomial"]["max"]) * 100
        print(f"LTP - tfmot: {gap:+.2f} points on the means; {worst:+.2f} LTP's worst seed vs tfmot's best")
        result.update(ltp_minus_tfmot_points=gap, ltp_worst_minus_tfmot_best_points=worst)
    result.update(
        model=args.model,
        target=args.target,
        seeds=args.seeds,
        dense_accuracy=dense_accuracy,
        pruning_epochs=epochs,
        summary=summary,
        runs=runs,
    )
    _common.write(result, args.results_dir)


if __name__ == "__main__":
    main()
