"""Prune a MobileNetV2-style network (depthwise convolutions, batch-norm).

Compact networks are where hand-set magnitude schedules struggle: the
depthwise kernels are tiny and sensitive, and tfmot does not prune them at
all. LTP learns their thresholds like any other. The network is
`keras.applications.MobileNetV2` with a small width multiplier on 32x32 inputs
(MNIST padded), used as a nested backbone inside a Functional model.

    python examples/mobilenet_v2.py
    python examples/mobilenet_v2.py --tfds cifar10
"""

import keras

import ltp_example

L = keras.layers


def mobilenet_v2(input_shape, classes, alpha=0.35):
    inputs = keras.Input(input_shape)
    x = inputs
    if input_shape[0] < 32:
        pad = (32 - input_shape[0]) // 2
        x = L.ZeroPadding2D(pad)(x)
    if input_shape[-1] == 1:
        x = L.Concatenate()([x, x, x])
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=alpha, include_top=False, weights=None
    )
    x = L.GlobalAveragePooling2D()(backbone(x))
    outputs = L.Dense(classes)(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


def main(argv=None):
    # Batch-norm everywhere: a cool temperature, as for the ResNet example.
    args = ltp_example.parser(__doc__, out="runs/mobilenet_v2", dense_epochs=15, t_start=0.6, t_end=0.1).parse_args(argv)
    return ltp_example.run(mobilenet_v2, args)


if __name__ == "__main__":
    main()
