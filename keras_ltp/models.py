"""Temporary during the refactor."""
from keras_ltp.pruning import prune  # noqa: F401
from keras_ltp.sparsity_report import SparsityReport, sparsity  # noqa: F401
from keras_ltp.stripping import strip  # noqa: F401
from keras_ltp.wrapper import iter_wrappers  # noqa: F401
