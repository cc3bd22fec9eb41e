"""Callbacks that manage LTP training: temperature, sparsity logging, a
sparsity target and the trail of sparser checkpoints."""

import math
import os
import warnings

import keras
import numpy as np

from keras_ltp.models import iter_wrappers, sparsity


def _wrappers_of(model, owner):
    wrappers = list(iter_wrappers(model))
    if not wrappers:
        raise ValueError(
            f"{owner}: the model {model.name!r} contains no PrunableWrapper. "
            "Prune it with keras_ltp.prune() (or wrap its layers) before fit()."
        )
    return wrappers


class TemperatureScheduler(keras.callbacks.Callback):
    """Sets the relative temperature `T0` of every wrapper at each epoch start.

    `T0` lives in a variable of each `PrunableWrapper`, so it is saved with the
    model and restored by `keras.callbacks.BackupAndRestore`.

    Args:
        schedule: callable `(epoch, current_t0) -> new_t0` (epoch from 0), like
            `keras.callbacks.LearningRateScheduler`.
        verbose: 1 prints the new value at each change.

    Example:
    >>> from keras_ltp.callbacks import TemperatureScheduler
    >>> halve = TemperatureScheduler(lambda epoch, t0: t0 * 0.5 if epoch else t0)
    >>> anneal = TemperatureScheduler.exponential(start=1e-2, end=1e-3, epochs=10)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable (epoch, t0) -> t0, got {schedule!r}.")
        self.schedule = schedule
        self.verbose = verbose

    @classmethod
    def exponential(cls, start, end, epochs, verbose=0):
        """Anneals `T0` geometrically from `start` to `end` over `epochs`, then holds."""
        for name, value in (("start", start), ("end", end)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"TemperatureScheduler.exponential: {name} must be > 0, got {value!r}.")
        if not (isinstance(epochs, int) and epochs >= 1):
            raise ValueError(f"TemperatureScheduler.exponential: epochs must be an int >= 1, got {epochs!r}.")
        ratio = (end / start) ** (1.0 / max(epochs - 1, 1))

        def schedule(epoch, _):
            return start * ratio ** min(epoch, epochs - 1)

        return cls(schedule, verbose=verbose)

    def on_train_begin(self, logs=None):
        _wrappers_of(self.model, "TemperatureScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        wrappers = _wrappers_of(self.model, "TemperatureScheduler")
        current = float(keras.ops.convert_to_numpy(wrappers[0].temperature.value))
        value = self.schedule(epoch, current)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(
                f"TemperatureScheduler: schedule({epoch}, {current}) returned {value!r}; "
                "the temperature must be a finite number > 0."
            )
        for wrapper in wrappers:
            wrapper.temperature.assign(float(value))
        if self.verbose and value != current:
            print(f"\nEpoch {epoch + 1}: TemperatureScheduler set T0 to {value:.4g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            wrappers = _wrappers_of(self.model, "TemperatureScheduler")
            logs["temperature"] = float(keras.ops.convert_to_numpy(wrappers[0].temperature.value))


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
        _wrappers_of(self.model, "SparsityMonitor")

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


FINAL_GAP = 0.005  # a shortfall beyond this at the end of fit() is reported


class SparsityTarget(keras.callbacks.Callback):
    """Steers `lambda` so the hard sparsity reaches `target` and holds there.

    Every `check_every` optimizer steps it measures the hard sparsity `s`
    (before the next training batch, and once more at the end of `fit`, see
    below):

    * below the target, every wrapper's `l0_strength` (lambda) is multiplied
      by `1 + rate` (an integral controller in log space), so the soft-L0
      pressure grows until the thresholds rise. LTP learns how to share the
      pruning between layers while the soft-L0 and task pressures are of a
      size; once lambda has reached `max_strength` it is raised no further
      (a larger lambda drowns the task loss, so every threshold rises at the
      optimizer's top speed and the allocation turns uniform, emptying small
      layers; the thresholds also stall as their transitional regions empty).
      Instead all thresholds are multiplied by one common factor that closes
      `catch_up` of the remaining gap to the target per check, keeping the
      ratios between the layers' thresholds that LTP learned;
    * above it, all thresholds are scaled down by one common factor that
      brings `s` back to the target (keeping the allocation), and lambda is
      halved. The thresholds stop rising at the target and training goes on
      recovering accuracy there, with lambda settling where the soft-L0 and
      task pressures balance.

    At the end of `fit` it does not prune more to close a remaining gap: with
    no training left, even a few more weights can cost much accuracy (a
    one-step close of a 0.05-point gap, tried on the small ResNet of
    `benchmarks/compare.py` at 98%, cost it over ten points). A shortfall of
    more than 0.5 points is reported with a warning.

    The common factor is an exact order statistic: it prunes the weights
    with the smallest `w^2 / tau` across the model, and lands halfway between
    two weights (never on one, where float32 rounding would decide).

    The state is the thresholds and lambda, which live in the wrappers'
    variables, and the step count `optimizer.iterations` that times the
    checks (they happen when it passes a multiple of `check_every`): all are
    saved with the model and restored by `keras.callbacks.BackupAndRestore`,
    so a run resumed from a backup, even one taken mid-epoch, checks at the
    same steps as an uninterrupted one, wherever the callback stands in the
    list.

    Args:
        target: hard sparsity to reach, in (0, 1).
        check_every: optimizer steps between two measurements.
        rate: relative increase of lambda per measurement below target (> 0).
            The default ramps lambda by at most 1.1x per `check_every` steps.
        min_strength, max_strength: bounds of lambda. `max_strength` is in
            the units of the regularizer (lambda times the kept fraction is
            added to the loss): the default 30 suits losses of order 1 such
            as cross-entropy. See `benchmarks/README.md` for the measured
            effect against the previous default (1e4).
        catch_up: fraction of the remaining gap to the target closed per
            check by raising the thresholds, once lambda is at `max_strength`;
            in (0, 1].
        verbose: 1 prints lambda and sparsity at each epoch end.

    Example:
    >>> from keras_ltp.callbacks import SparsityTarget
    >>> target = SparsityTarget(0.9)
    """

    def __init__(
        self, target, check_every=5, rate=0.1, min_strength=1e-3, max_strength=30.0, catch_up=0.1, verbose=0
    ):
        super().__init__()
        if not (isinstance(target, (int, float)) and 0.0 < target < 1.0):
            raise ValueError(f"SparsityTarget: target must be a fraction in (0, 1), got {target!r} (e.g. 0.9 for 90%).")
        if not (isinstance(check_every, int) and check_every >= 1):
            raise ValueError(f"SparsityTarget: check_every must be an int >= 1, got {check_every!r}.")
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise ValueError(f"SparsityTarget: rate must be a finite number > 0, got {rate!r}.")
        if not (0 < min_strength < max_strength and math.isfinite(max_strength)):
            raise ValueError(
                f"SparsityTarget: need 0 < min_strength < max_strength < inf, got {min_strength!r}, {max_strength!r}."
            )
        if not (isinstance(catch_up, (int, float)) and 0.0 < catch_up <= 1.0):
            raise ValueError(f"SparsityTarget: catch_up must be a fraction in (0, 1], got {catch_up!r}.")
        self.target = float(target)
        self.check_every = check_every
        self.rate = float(rate)
        self.min_strength = float(min_strength)
        self.max_strength = float(max_strength)
        self.catch_up = float(catch_up)
        self.verbose = verbose
        self._seen_step = None  # step count at the previous batch of this fit()
        self._steered = None  # (optimizer, step count) of the last measurement

    def _step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations.value))

    def on_train_begin(self, logs=None):
        _wrappers_of(self.model, "SparsityTarget")
        # Not the step count yet: BackupAndRestore may restore it after us.
        self._seen_step = None

    def on_train_batch_begin(self, batch, logs=None):
        # The schedule is a function of `optimizer.iterations`, which
        # BackupAndRestore saves with the weights; a Python counter would
        # restart from 0 in a resumed process and shift every check. Checking
        # before a batch rather than after it keeps a backup taken at the end
        # of the previous batch from missing a check made after it.
        step = self._step()
        previous = self._seen_step
        if previous is None or previous > step:
            previous = step - max(int(getattr(self.model, "steps_per_execution", 1) or 1), 1)
        self._seen_step = step
        if step // self.check_every > max(previous, 0) // self.check_every:
            self._steer(step)

    def on_train_end(self, logs=None):
        self._steer(self._step(), final=True)

    def _steer(self, step, final=False):
        key = (id(self.model.optimizer), step)
        if key == self._steered:  # e.g. at the end of one fit() and the start of the next
            return
        self._steered = key
        wrappers = list(iter_wrappers(self.model))
        squares, taus = [], []
        for wrapper in wrappers:
            for w, tau in zip(wrapper.pruned_weights, wrapper.effective_thresholds()):
                squares.append(np.square(keras.ops.convert_to_numpy(w.value).astype("float32")).ravel())
                taus.append(float(keras.ops.convert_to_numpy(tau)))
        total = sum(s.size for s in squares)

        def sparsity_at(scale):
            return sum(int(np.count_nonzero(s <= scale * t)) for s, t in zip(squares, taus)) / total

        current = sparsity_at(1.0)
        if current < self.target:
            weakest = min(float(keras.ops.convert_to_numpy(w.l0_strength.value)) for w in wrappers)
            if final:
                if self.target - current > FINAL_GAP:
                    warnings.warn(
                        f"SparsityTarget: fit() ended at {current:.2%} sparsity, {self.target - current:.2%} short "
                        f"of the {self.target:.2%} target. Train longer, or raise catch_up or max_strength.",
                        stacklevel=2,
                    )
            elif weakest < self.max_strength * (1 - 1e-6):
                self._scale_strength(wrappers, 1.0 + self.rate)
            else:
                goal = current + self.catch_up * (self.target - current)
                pruned_now = round(current * total)
                count = min(max(math.ceil(goal * total - 1e-9), pruned_now + 1), math.ceil(self.target * total - 1e-9))
                self._scale_thresholds(wrappers, squares, taus, count)
        elif current > self.target:
            self._scale_thresholds(wrappers, squares, taus, math.ceil(self.target * total - 1e-9))
            self._scale_strength(wrappers, 0.5)

    @staticmethod
    def _scale_thresholds(wrappers, squares, taus, count):
        """Multiplies every threshold by the one factor that prunes exactly
        the `count` weights with the smallest `w^2 / tau`. The new thresholds
        lie halfway between the last weight pruned and the first kept, not on
        a weight: a weight exactly on its threshold is kept or pruned by the
        last bit of float32 rounding. Tensors with `tau <= 0` cannot be moved
        by a factor and stay as they are."""
        ratios = np.sort(
            np.concatenate([np.where(s > 0, s / t if t > 0 else np.inf, 0.0) for s, t in zip(squares, taus)])
        )
        if count <= 0:
            scale = 0.5 * ratios[0]
        elif count >= ratios.size:
            return
        else:
            scale = 0.5 * (ratios[count - 1] + ratios[count])
        if not (math.isfinite(scale) and scale > 0):
            return  # not enough weights under positive thresholds to reach `count`
        for wrapper in wrappers:
            for theta in wrapper.thresholds:
                theta.assign(float(keras.ops.convert_to_numpy(theta.value)) * scale)

    def _scale_strength(self, wrappers, factor):
        for wrapper in wrappers:
            value = float(keras.ops.convert_to_numpy(wrapper.l0_strength.value)) * factor
            wrapper.l0_strength.assign(min(max(value, self.min_strength), self.max_strength))

    def on_epoch_end(self, epoch, logs=None):
        strength = float(keras.ops.convert_to_numpy(next(iter_wrappers(self.model)).l0_strength.value))
        if logs is not None:
            logs["l0_strength"] = strength
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: SparsityTarget lambda={strength:.4g}, target {self.target:.2%}.")


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
        from keras_ltp import trail

        _wrappers_of(self.model, "TrailCheckpoint")
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ValueError(f"TrailCheckpoint: {self.directory} exists and is not a directory.")
        os.makedirs(self.directory, exist_ok=True)
        names = os.listdir(self.directory)
        stale = [name for name in names if _is_temporary(name)]  # a run killed while saving leaves them
        here = os.path.abspath(self.directory)
        if here != self._owned and not self.resume and any(self._is_trail_file(name) for name in names):
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
        from keras_ltp import trail

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
        from keras_ltp import trail

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

    @staticmethod
    def _is_trail_file(name):
        from keras_ltp import trail

        checkpoint = name.startswith("epoch") and "_sparsity" in name and name.endswith(".keras")
        return checkpoint or name == trail.INDEX_NAME

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
        from keras_ltp import trail

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
        name = f"epoch{epoch:03d}_sparsity{report['sparsity'] * 100:.2f}.keras"
        temporary = os.path.join(self.directory, _temporary_name(name))
        self.model.save(temporary)
        _fsync(temporary)
        os.replace(temporary, os.path.join(self.directory, name))
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
        for name in names:
            try:
                os.remove(os.path.join(self.directory, name))
            except FileNotFoundError:
                pass


def _temporary_name(name):
    """The name a trail checkpoint is written under before it is renamed."""
    return f".{name}.tmp.keras"


def _is_temporary(name):
    from keras_ltp import trail

    return (name.startswith(".") and name.endswith(".tmp.keras")) or name == trail.INDEX_NAME + ".tmp"


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


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
