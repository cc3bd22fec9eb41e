"""tfmot magnitude pruning (PolynomialDecay) of one model, in its own process.

tfmot runs only on tf-keras (Keras 2), so `compare.py` starts this script
with TF_USE_LEGACY_KERAS=1. It builds the same architecture from the
examples' builders (with `keras` aliased to `tf_keras` in this process),
loads the dense weights `compare.py` trained, prunes to the target over the
given epochs, strips, evaluates, and writes one JSON result.
"""

import argparse
import json
import os
import sys
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

sys.modules["keras"] = tf_keras  # the example builders then build tf-keras models
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402


def recalibrate_batch_norm(model, x, batch_size):
    """tf-keras twin of keras_ltp.recalibrate_batch_norm (compare.py applies
    it to every method): moving statistics = size-weighted average of the
    batch statistics over x, computed with the final weights."""
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, tf_keras.layers.BatchNormalization)]
    if not layers:
        return False
    saved, seen = [layer.momentum for layer in layers], 0
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        for layer in layers:
            layer.momentum = seen / (seen + len(batch))
        model(batch, training=True)
        seen += len(batch)
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--target", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, help="seeds Python, NumPy and TensorFlow (as compare.py does in-process)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.seed is not None:
        tf_keras.utils.set_random_seed(args.seed)

    from benchmark_models import BUILDERS  # noqa: E402 - after the keras alias

    data = np.load(args.data)
    x, y, xt, yt = data["x"], data["y"], data["xt"], data["yt"]
    weights = np.load(args.weights)
    result = {"method": "tfmot_polynomial", "model": args.model, "target": args.target}
    try:
        model = BUILDERS[args.model](x.shape[1:], int(y.max()) + 1)
        model.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
        steps = -(-len(x) // args.batch_size) * args.epochs
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0, final_sparsity=args.target, begin_step=0,
            end_step=max(int(0.7 * steps), 1), frequency=max(steps // (4 * args.epochs), 1),
        )
        pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        pruned.compile(
            tf_keras.optimizers.Adam(1e-3),
            tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        start = time.time()
        pruned.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                   callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
        seconds = (time.time() - start) / args.epochs
        final = tfmot.sparsity.keras.strip_pruning(pruned)
        result["batch_norm_recalibrated"] = recalibrate_batch_norm(final, x, args.batch_size)
        final.compile(metrics=["accuracy"], loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        accuracy = float(final.evaluate(xt, yt, verbose=0)[1])
        per_layer, kept, total = {}, 0, 0
        for w in final.weights:
            name = w.name.split("/")[-1].split(":")[0]
            if name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                value = w.numpy()
                per_layer[w.name] = 1 - np.count_nonzero(value) / value.size
                kept += np.count_nonzero(value)
                total += value.size
        converter = tf.lite.TFLiteConverter.from_keras_model(final)
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        result.update(
            accuracy=accuracy, sparsity=1 - kept / total, per_layer_sparsity=per_layer,
            seconds_per_epoch=seconds, tflite_bytes=len(converter.convert()),
        )
    except Exception as error:  # noqa: BLE001 - recorded as the result: tfmot rejected the model
        result["error"] = f"{type(error).__name__}: {str(error)[:300]}"
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
