"""`TrailCheckpoint`: the trail of progressively sparser checkpoints."""

import math
import os
import warnings

import keras
import numpy as np

from keras_ltp import trail
from keras_ltp.callbacks._common import wrappers_of
from keras_ltp.sparsity_report import sparsity

__all__ = ["TrailCheckpoint"]


DEFAULT_TRAIL_STEPS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995)


class TrailCheckpoint(keras.callbacks.Callback):
    """Keeps the best model of each sparsity step, and the final model.

    At each epoch end the model falls in a step: the highest of
    `sparsity_steps` that its hard sparsity has reached. For each step the
    trail keeps one checkpoint, the best by `monitor` so far; a better model
    replaces it (as `keras.callbacks.ModelCheckpoint(save_best_only=True)`
    does). At the end of `fit` it also keeps the final model, marked
    `"final": true` in the index: the last epoch's model, the one that
    epoch's logs describe (even if a callback changes the model after it, as
    `SparsityTarget` does to land on its target). If that model is its
    step's checkpoint already, that entry is marked instead of saving it
    twice. Below the first step only the final model is kept. With
    `every_epoch=True` every epoch's model is kept. A `fit` that continues
    the trail replaces the earlier final model, unless that one is still its
    step's best.

    Models go to `DIRECTORY/epoch<E>_sparsity<S>.keras`, listed in
    `DIRECTORY/index.json` with the epoch, sparsity, compression, the
    epoch's logs (put this callback after `SparsityMonitor`, and use
    validation data to get `val_*` metrics), `step` (None below the first
    step) and `final`. Choose one with `keras_ltp.trail.select`.

    If `monitor` is missing from the epoch's logs (no validation data, or
    `validation_freq` > 1), the latest model of the step is kept, with one
    warning.

    A directory that already holds a trail (an `index.json` or trail
    `.keras` files) is refused before the first epoch, unless `resume=True`
    continues it (its checkpoints compete with the new ones; pass it in a
    script restarted with `keras.callbacks.BackupAndRestore`) or
    `overwrite=True` replaces it (the files its index lists and the index
    are deleted; other files are left alone). The same callback may `fit`
    again into the directory it wrote.

    Models and index are written to a temporary file, flushed to disk and
    renamed, and a replaced model is deleted only after the index stops
    listing it, so an interrupted run never leaves a half-written checkpoint
    or an index that lists a missing one; a resumed run removes the
    temporary files a killed run left.

    A model with a non-finite weight (or a non-finite `loss` / `val_loss` in
    the epoch's logs) is never saved: it warns and skips that epoch, so the
    trail ends at the last sound checkpoint when training diverges (use
    `keras.callbacks.TerminateOnNaN` to stop there; Keras still ends the
    interrupted epoch with `on_epoch_end`). NaN weights count as pruned, so
    a diverged model would otherwise look like the sparsest checkpoint.

    Args:
        directory: where to write (created if missing).
        sparsity_steps: increasing sparsity fractions in (0, 1); each one
            keeps its best checkpoint.
        every_epoch: keep every epoch's model (`monitor` and `mode` are then
            unused).
        monitor: the epoch-log metric that ranks the models of a step, e.g.
            `"val_accuracy"` or `"val_loss"`.
        mode: `"max"` or `"min"`: whether a larger `monitor` is better;
            `"auto"` takes max for a name containing acc, auc, precision,
            recall or f1, min otherwise.
        resume: continue the trail already in `directory`.
        overwrite: replace the trail already in `directory`.

    Example:
    >>> from keras_ltp.callbacks import TrailCheckpoint
    >>> trail = TrailCheckpoint("runs/trail", sparsity_steps=(0.9, 0.95), monitor="val_loss")
    >>> trail.monitor_op.__name__  # "auto": a smaller val_loss is better
    'less'
    >>> # pruned.fit(x, y, validation_data=(x_val, y_val), callbacks=[SparsityMonitor(), trail])
    >>> # best = keras_ltp.trail.select("runs/trail", min_sparsity=0.9)
    """

    def __init__(
        self,
        directory,
        sparsity_steps=DEFAULT_TRAIL_STEPS,
        every_epoch=False,
        monitor="val_accuracy",
        mode="auto",
        resume=False,
        overwrite=False,
    ):
        super().__init__()
        steps = tuple(float(s) for s in sparsity_steps)
        if not every_epoch and (not steps or any(not 0 < s < 1 for s in steps) or list(steps) != sorted(set(steps))):
            raise ValueError(
                f"TrailCheckpoint: sparsity_steps must be increasing fractions in (0, 1), got {sparsity_steps!r}."
            )
        if mode not in ("auto", "max", "min"):
            raise ValueError(f"TrailCheckpoint: mode must be 'auto', 'max' or 'min', got {mode!r}.")
        if resume and overwrite:
            raise ValueError(
                "TrailCheckpoint: pass resume=True (continue the trail) or overwrite=True (replace it), not both."
            )
        if mode == "auto":
            larger_is_better = ("acc", "auc", "precision", "recall", "f1")
            mode = "max" if any(word in monitor.lower() for word in larger_is_better) else "min"
        self.directory = os.fspath(directory)
        self.sparsity_steps = steps
        self.every_epoch = every_epoch
        self.monitor = monitor
        self.monitor_op = np.greater if mode == "max" else np.less
        self.resume = resume
        self.overwrite = overwrite
        self._owned = None  # the directory this callback has written to
        self._warned = False
        self._last = None  # the last epoch of this fit: number, metrics, file saved or weights

    def on_train_begin(self, logs=None):
        wrappers_of(self.model, "TrailCheckpoint")
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ValueError(f"TrailCheckpoint: {self.directory} exists and is not a directory.")
        os.makedirs(self.directory, exist_ok=True)
        names = os.listdir(self.directory)
        stale = [name for name in names if trail.is_temporary(name)]  # a run killed while saving leaves them
        here = os.path.abspath(self.directory)
        if here != self._owned and not self.resume and any(trail.is_trail_file(name) for name in names):
            if not self.overwrite:
                raise ValueError(
                    f"TrailCheckpoint: {self.directory} already holds a trail. Pass resume=True to continue "
                    "that trail or overwrite=True to replace it, or choose a new directory."
                )
            listed = [e["file"] for e in trail.read_index(self.directory) if os.path.basename(e["file"]) == e["file"]]
            stale = listed + [trail.INDEX_NAME] + stale
        self._remove(stale)
        self._owned = here
        self._last = None

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float, np.floating))}
        self._last = {"epoch": epoch + 1, "metrics": metrics, "file": None, "weights": None}
        report = sparsity(self.model)
        step = self._step_of(report["sparsity"])
        entries = trail.read_index(self.directory)
        replaced, due = None, True
        if not self.every_epoch:
            replaced = None if step is None else self._kept(entries, step)
            due = step is not None and self._better(metrics, replaced["metrics"] if replaced else {})
            if replaced is not None and replaced["final"]:
                replaced = None  # an earlier fit's final model stays until this fit's final replaces it
        if due:
            self._last["file"] = self._save(entries, report, step, drop=[replaced] if replaced else [])
        if self._last["file"] is None:  # on_train_end saves it if it is the final model
            self._last["weights"] = [np.array(w) for w in self.model.get_weights()]

    def on_train_end(self, logs=None):
        if self._last is None:
            return  # no epoch ended in this fit
        entries = trail.read_index(self.directory)
        drop = []
        for old in [e for e in entries if e["final"]]:  # an earlier fit's final model
            alone = not [e for e in entries if e is not old and e["step"] == old["step"]]
            if self.every_epoch or (old["step"] is not None and alone):
                old["final"] = False  # still its step's checkpoint
            else:
                drop.append(old)
        if self._last["file"] is None:
            self._save_final(entries, drop)
            return
        for entry in entries:
            entry["final"] = entry["final"] or entry["file"] == self._last["file"]
        trail.write_index(self.directory, [e for e in entries if e not in drop])
        self._remove(e["file"] for e in drop)

    def _save_final(self, entries, drop):
        """Saves the last epoch's model, the one its logs describe, even if a
        callback has changed the model since (SparsityTarget lands the
        sparsity on its target at the end of fit)."""
        now = self.model.get_weights()
        changed = any(not np.array_equal(a, b) for a, b in zip(now, self._last["weights"]))
        if changed:
            self.model.set_weights(self._last["weights"])
        try:
            report = sparsity(self.model)
            self._save(entries, report, self._step_of(report["sparsity"]), drop=drop, final=True)
        finally:
            if changed:
                self.model.set_weights(now)
            self._last["weights"] = None  # a copy of the model, no longer needed

    def _step_of(self, value):
        return max((step for step in self.sparsity_steps if step <= value), default=None)

    @staticmethod
    def _kept(entries, step):
        """The checkpoint kept for `step`: its entry that is not a final
        model, else the final model (of an earlier fit), else None."""
        candidates = sorted((e for e in entries if e["step"] == step), key=lambda e: e["final"])
        return candidates[0] if candidates else None

    def _better(self, metrics, kept):
        if self.monitor not in metrics:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"TrailCheckpoint: the monitored metric {self.monitor!r} is not in the epoch's logs "
                    f"(available: {', '.join(sorted(metrics))}); keeping the latest model of each sparsity step "
                    "instead of the best. Pass validation data, or set monitor= to one of those.",
                    stacklevel=3,
                )
            return True
        return self.monitor not in kept or bool(self.monitor_op(metrics[self.monitor], kept[self.monitor]))

    def _save(self, entries, report, step, drop, final=False):
        """Saves the model and lists it in the index instead of `drop`.
        Returns the file name, or None for a non-finite model."""
        epoch, metrics = self._last["epoch"], self._last["metrics"]
        problem = _non_finite(self.model, metrics)
        if problem:
            what = "the final model of fit (epoch {})" if final else "epoch {}"
            warnings.warn(
                f"TrailCheckpoint: not saving {what.format(epoch)} to the trail in {self.directory}: "
                f"{problem}; training has diverged. Earlier checkpoints are left as they are.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        name = trail.checkpoint_name(epoch, report["sparsity"])
        trail.save_checkpoint(self.model, self.directory, name)
        entry = {
            "file": name,
            "epoch": epoch,
            "sparsity": report["sparsity"],
            "compression": report["compression"],
            "metrics": metrics,
            "step": step,
            "final": final,
        }
        gone = {e["file"] for e in drop}
        trail.write_index(self.directory, [e for e in entries if e["file"] not in gone | {name}] + [entry])
        self._remove(gone - {name})
        return name

    def _remove(self, names):
        trail.remove(self.directory, names)


def _non_finite(model, logs):
    """Says why `model` (or its epoch `logs`) is unfit for the trail, or None."""
    for key in ("loss", "val_loss"):
        value = (logs or {}).get(key)
        if isinstance(value, (int, float, np.floating)) and not math.isfinite(float(value)):
            return f"{key} is {float(value)}"
    for variable in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(variable.value))
        if value.dtype.kind in "biu":
            continue
        if not np.isfinite(value.astype("float32")).all():
            return f"variable {variable.path} holds non-finite values"
    return None
