"""`KeepZeros`: fine-tunes a stripped model without bringing its pruned weights back."""

import math
import warnings

import keras

from keras_ltp.registry import prunable_weights
from keras_ltp.wrapper import iter_wrappers

__all__ = ["KeepZeros"]


class KeepZeros(keras.callbacks.Callback):
    """Keeps every pruned weight of a stripped model at zero while it trains.

    `fit` on the plain model that `keras_ltp.strip()` returns would move its
    zeros like any other weight, and the model would be dense again. With
    this callback, each prunable weight `w` (`keras_ltp.registry`) gets the
    mask `m = (w != 0)` taken when `fit` starts, and after every optimizer
    step `w <- m * w`, as a constraint of its variable: inside the compiled
    training step, on every backend and with any `steps_per_execution`. A
    constraint the variable already has is applied first; it is given back
    when `fit` ends. (Keras skips `on_train_end` when `fit` raises; the
    next `fit` with a `KeepZeros` gives back what was left then.)

    Fine-tuning this way after the masks are learned (say the last third of
    the epochs, at the full learning rate) is the recipe that closed most of
    the gap at high sparsity in `benchmarks/README.md` ("Recipes").

    Args:
        verbose: 1 prints how many zeros are kept when `fit` starts.

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> _ = model.layers[0].kernel.assign(np.array([[0.0, 1], [1, 0], [1, 1], [0, 0]]))
    >>> model.compile("sgd", "mse")
    >>> _ = model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0,
    ...               callbacks=[keras_ltp.callbacks.KeepZeros()])
    >>> int(np.sum(model.layers[0].kernel.numpy() == 0))
    4
    """

    def __init__(self, verbose=0):
        super().__init__()
        self.verbose = verbose
        self._given = []  # (variable, the constraint it had)

    def on_train_begin(self, logs=None):
        model = self.model
        wrapped = [w.name for w in iter_wrappers(model)]
        if wrapped:
            raise ValueError(
                f"KeepZeros: the model {model.name!r} has PrunableWrapper layers ({', '.join(wrapped[:3])}"
                f"{', ...' if len(wrapped) > 3 else ''}), which learn their masks while they train. "
                "Fine-tune the plain model instead: model = keras_ltp.strip(model), compile it, then fit it "
                "with KeepZeros."
            )
        self._give_back()
        kept = total = 0
        for variable in prunable_weights(model):
            if not variable.trainable:
                continue
            while isinstance(variable.constraint, _MaskedConstraint):  # left by a fit that raised
                variable.constraint = variable.constraint.inner
            mask = keras.ops.cast(keras.ops.not_equal(variable.value, 0), variable.dtype)
            zeros = int(keras.ops.convert_to_numpy(keras.ops.sum(1 - mask)))
            total += math.prod(variable.shape)
            if not zeros:
                continue
            kept += zeros
            self._given.append((variable, variable.constraint))
            variable.constraint = _MaskedConstraint(mask, variable.constraint)
        if not kept:
            warnings.warn(
                f"KeepZeros: no prunable weight of {model.name!r} has a zero, so there is nothing to keep "
                "(was the model stripped with keras_ltp.strip() after pruning?).",
                stacklevel=2,
            )
        elif self.verbose:
            print(f"KeepZeros: keeping {kept:,} of {total:,} prunable weights at zero.")

    def on_train_end(self, logs=None):
        self._give_back()

    def _give_back(self):
        for variable, constraint in self._given:
            variable.constraint = constraint
        self._given = []


class _MaskedConstraint:
    """`w -> mask * inner(w)`: a variable constraint that keeps zeros."""

    def __init__(self, mask, inner):
        self.mask, self.inner = mask, inner

    def __call__(self, w):
        if self.inner is not None:
            w = self.inner(w)
        return keras.ops.multiply(w, keras.ops.cast(self.mask, w.dtype))
