"""`SparsityTarget`: steers lambda and the thresholds to a target sparsity."""

import math
import warnings

import keras
import numpy as np

from keras_ltp import cost_measure, steering
from keras_ltp.callbacks._common import wrappers_of
from keras_ltp.wrapper import iter_wrappers

__all__ = ["SparsityTarget"]

MEASURES = ("weights", "cost")

_numpy = keras.ops.convert_to_numpy


class SparsityTarget(keras.callbacks.Callback):
    """Steers `lambda` so the hard sparsity reaches `target` and holds there.

    Every `check_every` optimizer steps it measures the hard sparsity `s`
    (before the next training batch, and once more at the end of `fit`, see
    below) and applies the control law `keras_ltp.steering.decide`, a pure
    function of the weights, thresholds and lambda:

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
    more than 0.5 points is reported with a warning, and so is a layer whose
    every weight ends pruned (a layer collapse; the fix, a ceiling on every
    layer, `keras_ltp.prune(model, max_sparsity=0.99)`, scored 5.7 points more
    on the small ResNet at 98% in `benchmarks/README.md`, "Recipes").

    The common factor is an exact order statistic: it prunes the weights
    with the smallest `w^2 / tau` across the model, and lands halfway between
    two weights (never on one, where float32 rounding would decide).

    Layers with sparsity bounds (`PrunableWrapper(min_sparsity=...,
    max_sparsity=...)`, `keras_ltp.prune(..., sparsity_bounds=...)`) move
    only inside them: the factor is chosen knowing that such a layer prunes
    no fewer and no more than its bounds allow, and the others make up the
    difference. A target the bounds put out of reach is a `ValueError` at
    the start of `fit`.

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
        measure: what the target is a fraction of: `"weights"` (the pruned
            weights, counted) or `"cost"` (the model's total cost, what the
            regularizer counts: each weight weighted by its wrapper's
            `cost_per_weight()` and counted once, by the mask of the wrapper
            that holds it). A channel-pruned layer's kernel slices also go
            with the input channels that the channel-pruned layers before it
            remove (their `channel_inputs`, `keras_ltp.cost_measure`), so
            with `prune(..., granularity="channel", cost="flops")` that is
            the fraction of the shrunk model's multiply-adds removed (a
            per-weight layer's weight counts as kept while its own mask
            keeps it, whatever its input).
        verbose: 1 prints lambda and sparsity at each epoch end.

    Example:
    >>> from keras_ltp.callbacks import SparsityTarget
    >>> target = SparsityTarget(0.9)
    """

    def __init__(
        self,
        target,
        check_every=5,
        rate=0.1,
        min_strength=1e-3,
        max_strength=30.0,
        catch_up=0.1,
        measure="weights",
        verbose=0,
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
        if measure not in MEASURES:
            raise ValueError(f"SparsityTarget: measure must be one of {MEASURES}, got {measure!r}.")
        self.target = float(target)
        self.measure = measure
        self.check_every = check_every
        self.rate = float(rate)
        self.min_strength = float(min_strength)
        self.max_strength = float(max_strength)
        self.catch_up = float(catch_up)
        self.verbose = verbose
        self._seen_step = None  # step count at the previous batch of this fit()
        self._steered = None  # (optimizer, step count) of the last measurement

    def _step(self):
        return int(_numpy(self.model.optimizer.iterations.value))

    def on_train_begin(self, logs=None):
        wrappers = wrappers_of(self.model, "SparsityTarget")
        self._check_bounds(wrappers)
        # Not the step count yet: BackupAndRestore may restore it after us.
        self._seen_step = None

    def _check_bounds(self, wrappers):
        """Refuses a target the layers' sparsity bounds put out of reach."""
        bounded = [w for w in wrappers if w.built and w.bounded]
        if not bounded or not all(w.built for w in wrappers):
            return
        _, _, removed = cost_measure.from_wrappers(wrappers, self.measure)
        of = " of the cost" if self.measure == "cost" else ""
        most, least = removed(math.inf), removed(-math.inf)
        if most < self.target - steering.FINAL_GAP:
            names = ", ".join(f"{w.name} ({w.max_sparsity:g})" for w in bounded if w.max_sparsity < 1.0)
            raise ValueError(
                f"SparsityTarget: the max_sparsity bounds let at most {most:.2%}{of} be pruned, below the "
                f"{self.target:.2%} target. Lower the target, or raise max_sparsity of: {names}."
            )
        if least > self.target + steering.FINAL_GAP:
            names = ", ".join(f"{w.name} ({w.min_sparsity:g})" for w in bounded if w.min_sparsity > 0.0)
            raise ValueError(
                f"SparsityTarget: the min_sparsity bounds prune at least {least:.2%}{of}, above the "
                f"{self.target:.2%} target. Raise the target, or lower min_sparsity of: {names}."
            )

    def on_train_batch_begin(self, batch, logs=None):
        # The schedule is a function of `optimizer.iterations`, which
        # BackupAndRestore saves with the weights; a Python counter would
        # restart from 0 in a resumed process and shift every check. Checking
        # before a batch rather than after it keeps a backup taken at the end
        # of the previous batch from missing a check made after it.
        step = self._step()
        previous = self._seen_step
        if previous is None or previous > step:
            previous = step - self.model.steps_per_execution  # the steps run since the last call
        self._seen_step = step
        if step // self.check_every > max(previous, 0) // self.check_every:
            self._steer(step)

    def on_train_end(self, logs=None):
        self._steer(self._step(), final=True)
        _warn_if_emptied(self.model)

    def _steer(self, step, final=False):
        key = (id(self.model.optimizer), step)
        if key == self._steered:  # e.g. at the end of one fit() and the start of the next
            return
        self._steered = key
        wrappers = list(iter_wrappers(self.model))
        removed = None
        if any(w.bounded for w in wrappers) or (
            self.measure == "cost" and any(getattr(w, "channel_inputs", None) for w in wrappers)
        ):
            squares, taus, removed = cost_measure.from_wrappers(wrappers, self.measure)
            costs = None
        else:
            squares, taus, costs = [], [], []
            for wrapper in wrappers:
                for score, tau in zip(wrapper.scores(), wrapper.effective_thresholds()):
                    squares.append(_numpy(score).astype("float32").ravel())
                    taus.append(float(_numpy(tau)))
                    costs.append(wrapper.cost_per_weight())
        decision = steering.decide(
            squares,
            taus,
            min(float(_numpy(w.l0_strength.value)) for w in wrappers),
            self.target,
            rate=self.rate,
            max_strength=self.max_strength,
            catch_up=self.catch_up,
            final=final,
            costs=costs if self.measure == "cost" else None,
            removed=removed,
        )
        if decision.shortfall:
            warnings.warn(
                f"SparsityTarget: fit() ended at {self.target - decision.shortfall:.2%} sparsity"
                f"{' (of the cost)' if self.measure == 'cost' else ''}, "
                f"{decision.shortfall:.2%} short of the {self.target:.2%} target. Train longer, "
                "or raise catch_up or max_strength.",
                stacklevel=2,
            )
        if decision.threshold_factor is not None:
            for wrapper in wrappers:
                wrapper.scale_thresholds(decision.threshold_factor)
        if decision.strength_factor != 1.0:
            for wrapper in wrappers:
                value = float(_numpy(wrapper.l0_strength.value)) * decision.strength_factor
                wrapper.l0_strength.assign(min(max(value, self.min_strength), self.max_strength))

    def on_epoch_end(self, epoch, logs=None):
        strength = float(_numpy(next(iter_wrappers(self.model)).l0_strength.value))
        if logs is not None:
            logs["l0_strength"] = strength
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: SparsityTarget lambda={strength:.4g}, target {self.target:.2%}.")


def _warn_if_emptied(model):
    """Warns about the layers whose hard masks prune every weight (a layer collapse)."""
    emptied = [
        wrapper.name
        for wrapper in iter_wrappers(model)
        if any(not np.any(_numpy(mask)) for mask in wrapper.hard_masks())
    ]
    if emptied:
        warnings.warn(
            f"SparsityTarget: fit() ended with every weight of {', '.join(emptied)} pruned (a layer collapse: "
            "such a layer passes on only its bias). To keep some weights in every layer, prune with a ceiling, "
            "keras_ltp.prune(model, max_sparsity=0.99); see benchmarks/README.md, 'Recipes for high sparsity'.",
            stacklevel=2,
        )
