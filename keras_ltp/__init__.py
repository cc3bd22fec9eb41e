"""keras-ltp: Learned Threshold Pruning for Keras 3."""

from keras_ltp import callbacks, diagnostics, distribute, export, plot, trail, walk
from keras_ltp.batch_norm import recalibrate_batch_norm
from keras_ltp.coupled import CoupledChannels
from keras_ltp.pruning import prune
from keras_ltp.registry import register_prunable
from keras_ltp.rounding import round_channels
from keras_ltp.shrinking import shrink
from keras_ltp.sparsity_report import sparsity, weight_sparsity
from keras_ltp.stripping import strip
from keras_ltp.wrapper import PrunableWrapper, iter_wrappers

__version__ = "0.1.0"

__all__ = [
    "CoupledChannels",
    "PrunableWrapper",
    "callbacks",
    "diagnostics",
    "distribute",
    "export",
    "iter_wrappers",
    "plot",
    "prune",
    "recalibrate_batch_norm",
    "register_prunable",
    "round_channels",
    "shrink",
    "sparsity",
    "strip",
    "trail",
    "walk",
    "weight_sparsity",
]
