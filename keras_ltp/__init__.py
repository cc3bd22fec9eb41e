"""keras-ltp: Learned Threshold Pruning for Keras 3."""

from keras_ltp import callbacks, export, trail
from keras_ltp.models import prune, sparsity, strip
from keras_ltp.registry import register_prunable
from keras_ltp.wrapper import PrunableWrapper

__version__ = "0.1.0"

__all__ = [
    "PrunableWrapper",
    "callbacks",
    "export",
    "prune",
    "register_prunable",
    "sparsity",
    "strip",
    "trail",
]
