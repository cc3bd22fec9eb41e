"""Prune a MobileNetV2-style network (inverted residuals, depthwise convolutions,
batch-norm) with LTP.

Compact networks are where hand-set magnitude schedules struggle: the
depthwise kernels are tiny and sensitive, and tfmot does not prune them at
all. LTP learns their thresholds like any other. The network follows
MobileNetV2 (expand 1x1, depthwise 3x3, project 1x1, residual when shapes
allow, ReLU6) at a small width for 28x28 inputs (`common.architectures`).

    python examples/mobilenet_v2.py
    python examples/mobilenet_v2.py --tfds cifar10
"""

from common import launch, options
from common.architectures import TEMPERATURES, mobilenet_v2


def main(argv=None):
    # Batch-norm everywhere: a cool temperature, as for the ResNet example.
    t_start, t_end = TEMPERATURES["mobilenet_v2"]
    args = options.parser(__doc__, out="runs/mobilenet_v2", dense_epochs=12, t_start=t_start, t_end=t_end).parse_args(
        argv
    )
    return launch.run(mobilenet_v2, args)


if __name__ == "__main__":
    main()
