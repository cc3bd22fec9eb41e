"""`TemperatureScheduler`: anneals the relative temperature `T0`."""

import math

import keras

from keras_ltp.callbacks._common import wrappers_of

__all__ = ["TemperatureScheduler"]


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
        wrappers_of(self.model, "TemperatureScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        wrappers = wrappers_of(self.model, "TemperatureScheduler")
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
            wrappers = wrappers_of(self.model, "TemperatureScheduler")
            logs["temperature"] = float(keras.ops.convert_to_numpy(wrappers[0].temperature.value))
