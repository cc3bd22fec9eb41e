"""Writes torch_trained/: a small model pruned and trained on the PyTorch
backend, with its inputs and predictions, for tests that export it from a
TensorFlow process where PyTorch may not be installed (test_cli.py).

Its compile config names Keras' PyTorch optimizer class
(`keras.src.backend.torch.optimizers.torch_adam`), which is what made a
TensorFlow process that loads it with `compile=True` import torch.

    KERAS_BACKEND=torch python tests/data/make_torch_trained_model.py
"""

import os

import keras
import numpy as np

import keras_ltp

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_trained")


def main():
    assert keras.backend.backend() == "torch", "run with KERAS_BACKEND=torch"
    keras.utils.set_random_seed(0)
    L = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(6, 3, activation="relu")(inputs)
    x = L.BatchNormalization()(x)
    x = L.Flatten()(x)
    outputs = L.Dense(3)(x)
    pruned = keras_ltp.prune(keras.Model(inputs, outputs), l0_strength=2.0, threshold_gain=100.0)
    pruned.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 128)
    pruned.fit(x, y, epochs=3, batch_size=32, verbose=0)
    os.makedirs(OUT, exist_ok=True)
    pruned.save(os.path.join(OUT, "model.keras"))
    np.save(os.path.join(OUT, "x.npy"), x[:16])
    np.save(os.path.join(OUT, "predictions.npy"), keras.ops.convert_to_numpy(pruned.predict(x[:16], verbose=0)))
    print(f"sparsity {keras_ltp.sparsity(pruned)['sparsity']:.2%}; wrote {OUT}")


if __name__ == "__main__":
    main()
