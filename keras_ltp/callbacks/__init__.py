"""Callbacks that manage LTP training, one per module: the temperature
schedule, sparsity logging, a sparsity target and the trail of sparser
checkpoints."""

from keras_ltp.callbacks.sparsity_monitor import SparsityMonitor
from keras_ltp.callbacks.sparsity_target import SparsityTarget
from keras_ltp.callbacks.temperature_scheduler import TemperatureScheduler
from keras_ltp.callbacks.trail_checkpoint import TrailCheckpoint

__all__ = ["SparsityMonitor", "SparsityTarget", "TemperatureScheduler", "TrailCheckpoint"]
