"""Trains a small pruned model on the current Keras backend and writes, into
OUT, `model.keras`, its inputs `x.npy`, its `predictions.npy` and its
`sparsity.npy`.

test_export.py runs it on JAX and PyTorch to export the result on
TensorFlow. Run on PyTorch into `torch_trained/` it made the committed
fixture that test_cli.py exports in a process where torch cannot be
imported: its compile config names Keras' PyTorch optimizer class
(`keras.src.backend.torch.optimizers.torch_adam`), which is what made a
TensorFlow process that loads it with `compile=True` import torch.

    KERAS_BACKEND=torch python tests/data/train_on_backend.py tests/data/torch_trained
"""

import os
import sys

import keras
import numpy as np

import keras_ltp


def main(out):
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
    pruned.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[keras_ltp.callbacks.SparsityMonitor()])
    os.makedirs(out, exist_ok=True)
    pruned.save(os.path.join(out, "model.keras"))
    np.save(os.path.join(out, "x.npy"), x[:16])
    np.save(os.path.join(out, "predictions.npy"), keras.ops.convert_to_numpy(pruned.predict(x[:16], verbose=0)))
    np.save(os.path.join(out, "sparsity.npy"), keras_ltp.sparsity(pruned)["sparsity"])
    print(f"{keras.backend.backend()}: sparsity {keras_ltp.sparsity(pruned)['sparsity']:.2%}; wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
