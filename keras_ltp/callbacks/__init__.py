"""Callbacks that manage LTP training, one per module: the temperature
schedule, sparsity logging, a sparsity target, the trail of sparser
checkpoints, and fine-tuning a stripped model with its zeros kept."""

from keras_ltp.callbacks.keep_zeros import KeepZeros
from keras_ltp.callbacks.sparsity_monitor import SparsityMonitor
from keras_ltp.callbacks.sparsity_target import SparsityTarget
from keras_ltp.callbacks.temperature_scheduler import TemperatureScheduler
from keras_ltp.callbacks.trail_checkpoint import TrailCheckpoint

__all__ = ["KeepZeros", "SparsityMonitor", "SparsityTarget", "TemperatureScheduler", "TrailCheckpoint"]
