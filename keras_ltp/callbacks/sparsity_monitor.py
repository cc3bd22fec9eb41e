"""`SparsityMonitor`: hard sparsity, and whether the masks are still moving, in the epoch logs."""

import keras

from keras_ltp import diagnostics
from keras_ltp.callbacks._common import wrappers_of
from keras_ltp.sparsity_report import sparsity

__all__ = ["SparsityMonitor"]


class SparsityMonitor(keras.callbacks.Callback):
    """Writes hard sparsity and two diagnostics into `logs` at the end of each epoch.

    Keys:

    * `sparsity`: the fraction of pruned weights the hard mask removes;
    * `transition`: the fraction whose soft mask is still in
      `(transition_band, 1 - transition_band)`
      (`keras_ltp.diagnostics.transition_fraction`); it falling to zero
      while the loss is high means the masks froze too early;
    * with `gap_data`: `soft_mask_loss`, `hard_mask_loss` and
      `mask_loss_gap` (hard - soft; `keras_ltp.diagnostics.mask_loss_gap`),
      what the hard mask that export uses costs over the masks training
      optimises;
    * with `per_layer=True`: `sparsity/<layer>` and `transition/<layer>`
      per wrapper and `threshold/<weight path>` per pruned tensor.

    `History`, `CSVLogger`, the progress bar and `TensorBoard` show them,
    and `keras_ltp.plot.diagnostics` draws them. Put it before those
    callbacks in the list (Keras' own progress bar and History always come
    last).

    Args:
        per_layer: also log per-layer sparsity, transition fractions and
            thresholds.
        transition_band: in `(0, 0.5)`, or None to log no transition
            fraction.
        gap_data: None, or data to measure the loss gap on each epoch:
            `(x, y)` / `(x, y, sample_weight)` arrays or a finite iterable of
            such batches (a few batches of held-out data; each epoch runs
            the model on it twice).
        gap_batch_size: batch size for `gap_data` arrays.

    Example:
    >>> from keras_ltp.callbacks import SparsityMonitor
    >>> monitor = SparsityMonitor(per_layer=False)
    """

    def __init__(self, per_layer=True, transition_band=0.05, gap_data=None, gap_batch_size=256):
        super().__init__()
        if transition_band is not None and not 0.0 < transition_band < 0.5:
            raise ValueError(f"transition_band must be in (0, 0.5) or None, got {transition_band!r}.")
        self.per_layer = per_layer
        self.transition_band = transition_band
        self.gap_data = gap_data
        self.gap_batch_size = gap_batch_size

    def on_train_begin(self, logs=None):
        wrappers_of(self.model, "SparsityMonitor")
        if self.gap_data is not None and (not getattr(self.model, "compiled", False) or self.model.loss is None):
            raise ValueError("SparsityMonitor(gap_data=...) needs a compiled loss: call model.compile(loss=...).")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        report = sparsity(self.model)
        logs["sparsity"] = report["sparsity"]
        if self.transition_band is not None:
            transition = diagnostics.transition_fraction(self.model, self.transition_band)
            logs["transition"] = transition["transition"]
        if self.gap_data is not None:
            logs.update(diagnostics.mask_loss_gap(self.model, self.gap_data, self.gap_batch_size))
        if self.per_layer:
            for name, layer in report["layers"].items():
                logs[f"sparsity/{name}"] = layer["sparsity"]
            if self.transition_band is not None:
                for name, fraction in transition["layers"].items():
                    logs[f"transition/{name}"] = fraction
            for entry in report["weights"]:
                logs[f"threshold/{entry['weight']}"] = entry["threshold"]
