"""Prune a small ResNet with BatchNorm after every convolution.

The case L1/L2 pruning cannot handle (batch-norm makes the layer's output
invariant to the scale of its weights) and LTP's soft L0 can. Prints the
sparsity of the convolutions and the held-out accuracy before and after.

    python examples/resnet_bn.py
    python examples/resnet_bn.py --tfds mnist
"""

from common import launch, options
from common.architectures import TEMPERATURES, small_resnet


def conv_sparsity(report):
    kept = sum(w["kept"] for w in report["weights"] if "conv2d" in w["weight"])
    total = sum(w["total"] for w in report["weights"] if "conv2d" in w["weight"])
    return "conv_sparsity", 1.0 - kept / total


def main(argv=None):
    # Cooler than the LeNet default: with batch-norm after every convolution a
    # hot soft mask trains statistics the hard-masked network does not match.
    t_start, t_end = TEMPERATURES["small_resnet"]
    args = options.parser(__doc__, out="runs/resnet", dense_epochs=12, t_start=t_start, t_end=t_end).parse_args(argv)
    return launch.run(small_resnet, args, sparsity_of=conv_sparsity)


if __name__ == "__main__":
    main()
