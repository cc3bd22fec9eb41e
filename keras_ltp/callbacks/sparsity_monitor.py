"""`SparsityMonitor`: hard sparsity in the epoch logs."""

import keras

from keras_ltp.callbacks._common import wrappers_of
from keras_ltp.sparsity_report import sparsity

__all__ = ["SparsityMonitor"]


class SparsityMonitor(keras.callbacks.Callback):
    """Writes hard sparsity into `logs` at the end of each epoch.

    Keys: `sparsity` (overall), and with `per_layer=True` also
    `sparsity/<layer>` per wrapper and `threshold/<weight path>` per pruned
    tensor. `History`, `CSVLogger`, the progress bar and `TensorBoard` show
    them. Put it before those callbacks in the list (Keras' own progress bar
    and History always come last).

    Args:
        per_layer: also log per-layer sparsity and thresholds.

    Example:
    >>> from keras_ltp.callbacks import SparsityMonitor
    >>> monitor = SparsityMonitor(per_layer=False)
    """

    def __init__(self, per_layer=True):
        super().__init__()
        self.per_layer = per_layer

    def on_train_begin(self, logs=None):
        wrappers_of(self.model, "SparsityMonitor")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        report = sparsity(self.model)
        logs["sparsity"] = report["sparsity"]
        if self.per_layer:
            for name, layer in report["layers"].items():
                logs[f"sparsity/{name}"] = layer["sparsity"]
            for entry in report["weights"]:
                logs[f"threshold/{entry['weight']}"] = entry["threshold"]
