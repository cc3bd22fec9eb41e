"""tfmot magnitude pruning (PolynomialDecay) of one model, in its own process.

tfmot runs only on tf-keras (Keras 2), so `compare.py` starts this module
(`python -m benchmarks.tfmot_worker`, from the repository root) with
TF_USE_LEGACY_KERAS=1. It builds the same architecture with the builders of
`examples.common.architectures` (passing `keras=tf_keras`), loads the dense
weights `compare.py` trained, prunes to the target over the given epochs,
strips, evaluates, and writes one JSON result.

keras_ltp is Keras 3 only, so this process does not use it: the batch-norm
recalibration and the zero count below are small tf-keras twins of
`keras_ltp.recalibrate_batch_norm` and `keras_ltp.weight_sparsity`.
"""

import argparse
import json
import os
import sys
import time

if not __package__:  # run as `python benchmarks/tfmot_worker.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.tfmot_worker " + " ".join(sys.argv[1:]))
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras  # noqa: E402

from examples.common.architectures import BUILDERS  # noqa: E402

# The weights keras_ltp.registry calls prunable in these networks (they have no embeddings).
PRUNABLE = ("kernel", "depthwise_kernel", "pointwise_kernel")


def recalibrate_batch_norm(model, x, batch_size):
    """tf-keras twin of keras_ltp.recalibrate_batch_norm (compare.py applies
    it to every method): moving statistics = size-weighted average of the
    batch statistics over x, computed with the final weights."""
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, tf_keras.layers.BatchNormalization)
    ]
    if not layers:
        return False
    saved, seen = [layer.momentum for layer in layers], 0
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        for layer in layers:
            layer.momentum = seen / (seen + len(batch))
        model(batch, training=True)
        seen += len(batch)
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum
    return True


def weight_sparsity(model):
    """{weight name: (nonzero, total)} of the prunable weights of a tf-keras
    model: the count `keras_ltp.weight_sparsity` makes of a Keras 3 model
    (which it cannot read: tf-keras layers and variables are not Keras 3's)."""
    counts = {}
    for w in model.weights:
        if w.name.split("/")[-1].split(":")[0] in PRUNABLE:
            value = w.numpy()
            counts[w.name] = (int(np.count_nonzero(value)), int(value.size))
    return counts


def constant_then_cosine(rate, steps, decay_steps):
    """`rate` for `steps - decay_steps` steps, then a cosine decay to 0 over the last `decay_steps`."""
    start = steps - decay_steps

    class ConstantThenCosine(tf_keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            progress = tf.clip_by_value((tf.cast(step, tf.float32) - start) / max(decay_steps, 1), 0.0, 1.0)
            return rate * 0.5 * (1.0 + tf.cos(np.pi * progress))

        def get_config(self):
            return {}

    return ConstantThenCosine()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--target", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, help="seeds Python, NumPy and TensorFlow (as compare.py does in-process)")
    parser.add_argument(
        "--decay-last",
        type=float,
        default=0.0,
        help="the learning rate decays from 1e-3 to 0 along a cosine over this last fraction of the steps",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.seed is not None:
        tf_keras.utils.set_random_seed(args.seed)

    data = np.load(args.data)
    x, y, xt, yt = data["x"], data["y"], data["xt"], data["yt"]
    weights = np.load(args.weights)
    result = {"method": "tfmot_polynomial", "model": args.model, "target": args.target}
    try:
        model = BUILDERS[args.model](x.shape[1:], int(y.max()) + 1, keras=tf_keras)
        model.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
        steps = -(-len(x) // args.batch_size) * args.epochs
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=args.target,
            begin_step=0,
            end_step=max(int(0.7 * steps), 1),
            frequency=max(steps // (4 * args.epochs), 1),
        )
        pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        rate = constant_then_cosine(1e-3, steps, int(round(args.decay_last * steps))) if args.decay_last else 1e-3
        pruned.compile(
            tf_keras.optimizers.Adam(rate),
            tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        start = time.time()
        pruned.fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=args.epochs,
            verbose=0,
            callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        )
        seconds = (time.time() - start) / args.epochs
        final = tfmot.sparsity.keras.strip_pruning(pruned)
        result["batch_norm_recalibrated"] = recalibrate_batch_norm(final, x, args.batch_size)
        final.compile(metrics=["accuracy"], loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        accuracy = float(final.evaluate(xt, yt, verbose=0)[1])
        counts = weight_sparsity(final)
        kept, total = (sum(column) for column in zip(*counts.values()))
        converter = tf.lite.TFLiteConverter.from_keras_model(final)
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        result.update(
            accuracy=accuracy,
            sparsity=1 - kept / total,
            per_layer_sparsity={name: 1 - nonzero / size for name, (nonzero, size) in counts.items()},
            seconds_per_epoch=seconds,
            tflite_bytes=len(converter.convert()),
        )
    except Exception as error:  # noqa: BLE001 - recorded as the result: tfmot rejected the model
        result["error"] = f"{type(error).__name__}: {str(error)[:300]}"
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
