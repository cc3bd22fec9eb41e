"""The benchmark's networks: the examples' builders, by name."""

from mnist_lenet import lenet_300_100
from mnist_lenet5 import lenet5
from mobilenet_v2 import mobilenet_v2
from resnet_bn import small_resnet

BUILDERS = {
    "lenet_300_100": lenet_300_100,
    "lenet5": lenet5,
    "small_resnet": small_resnet,
    "mobilenet_v2": mobilenet_v2,
}
# Networks with batch-norm prune with a cooler temperature (see README).
TEMPERATURES = {
    "lenet_300_100": (1.5, 0.3),
    "lenet5": (1.5, 0.3),
    "small_resnet": (0.6, 0.1),
    "mobilenet_v2": (0.6, 0.1),
}
